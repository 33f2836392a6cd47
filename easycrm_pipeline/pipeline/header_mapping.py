"""DeepSeek's header mapping applied to a parsed file (issue 15): columns no alias maps get a lead field when
DeepSeek proposes one and the column's content agrees.

With a DeepSeek key (the same ``llm_enabled`` rule as standardization), for every sheet whose header row has columns
the offline aliases and content roles left unmapped (:func:`~easycrm_pipeline.rules.headers.header_role` gives none;
secret columns, generated ``Column N`` names of a file without a header row and empty columns excluded), DeepSeek is
asked once per distinct header row (:func:`~easycrm_pipeline.deepseek.header_map.header_signature`); its answer is
cached under that signature in the store's standardization cache, so a second file with the same header row makes
no request. A proposed field is accepted only when the column's cells agree
(:func:`~easycrm_pipeline.rules.columns.agrees`: emails look like emails, phones parse, names look like names) and no
other column already provides that field; an accepted column is renamed the way content roles are
(``"First Name (fld_a1)"``), so the rules, the DeepSeek batches and ``rawRow`` all see it. A rejected proposal, a
failed request or no key: the column stays unmapped (its cells go to remarks as ``"fld_a1: value"``) and the file is
never failed by it.

The parse step streams a file (issue 13): :func:`stream_file_headers` maps the rows as they are read, holding only
a sheet's first :data:`SAMPLE_ROWS` rows until its mapping is decided, and asks each distinct header row once.

Pure logic apart from :func:`stream_file_headers` / :func:`map_file_headers`, which build the DeepSeek client.
"""
from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, ContextManager

from easycrm_pipeline.deepseek.client import DeepSeekClient, Usage
from easycrm_pipeline.deepseek.header_map import FIELD_ROLES, ask_mapping, header_signature
from easycrm_pipeline.models import ParsedFile, RawRow
from easycrm_pipeline.pipeline.batches import BatchResult
from easycrm_pipeline.pipeline.standardizer import add_usage
from easycrm_pipeline.rules.columns import ROLE_HEADERS, agrees
from easycrm_pipeline.rules.headers import header_key, header_role, is_other_contact_header
from easycrm_pipeline.rules.sensitive import REDACTED_PREFIX, sensitive_header

#: Rows of a sheet whose cells are the sample checked against a proposal (and the examples' source).
SAMPLE_ROWS = 30
#: The name a reader gives a column without a header (nothing to interpret: content roles handle those).
_GENERATED = re.compile(r"^Column \d+$")
#: Offline header roles -> the field group they provide (mobile is a phone, an ambiguous Name a full name).
_GROUP = {"mobile": "phone", "ambiguousName": "fullName", "middleName": "firstName"}

#: ``(headers, {header: sample cells}) -> {header: role}``; raises on a failed request.
AskFn = Callable[[list[str], dict[str, list[str]]], dict[str, str]]


@dataclass
class HeaderMapping:
    """What the header mapping did for one file (the parse step's ``header_mapping`` metadata).

    Attributes:
        asked: DeepSeek requests sent (one per distinct header row not in the cache).
        cached: header rows answered from the cache (no request).
        accepted: columns renamed to the field DeepSeek proposed (the content agreed).
        rejected: proposed fields refused: the content contradicts them, or another column provides the field.
        failed: requests that failed (the columns stay unmapped).
        mapped: ``{header: field}`` of the accepted columns.
        tokens: DeepSeek tokens the requests cost (prompt + completion).
        usage: the requests' DeepSeek usage (calls, tokens); counted into the file's ``llm_calls``/``tokens``/
            ``cost_usd`` through :meth:`as_batch_result`.
    """

    asked: int = 0
    cached: int = 0
    accepted: int = 0
    rejected: int = 0
    failed: int = 0
    mapped: dict[str, str] = field(default_factory=dict)
    tokens: int = 0
    usage: Usage = field(default_factory=Usage)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict of the counts, ``mapped`` and ``tokens`` (the metadata; ``usage`` left out)."""
        doc = asdict(self)
        del doc["usage"]
        return doc

    def as_batch_result(self, price_table: dict | None = None) -> BatchResult:
        """The requests' usage as a :class:`BatchResult` without leads (``batch`` ``"header-mapping"``): the collect
        step adds it to the file's DeepSeek calls, tokens and cost."""
        return add_usage(BatchResult(batch="header-mapping"), self.usage, price_table)


def unmapped_columns(headers: list[str], sample: list[RawRow]) -> dict[int, list[str]]:
    """Column index -> sample cells of the columns worth asking about: no alias or content role maps the header,
    the header is real text (not ``Column N``), no secret column, not a well-known non-lead column (City, Country,
    Lead Source...: ``rules.headers.OTHER_CONTACT_HEADERS``), and some cell is filled and not redacted."""
    out: dict[int, list[str]] = {}
    for k, header in enumerate(headers):
        if (_GENERATED.match(header) or header_role(header)[0] is not None or sensitive_header(header)
                or is_other_contact_header(header)):
            continue
        values = [row.cells[k][1] for row in sample if k < len(row.cells)]
        if any(v and not v.startswith(REDACTED_PREFIX) for v in values):
            out[k] = values
    return out


def _provided(headers: list[str]) -> set[str]:
    roles = (header_role(h)[0] for h in headers)
    return {_GROUP.get(r, r) for r in roles if r}


def _conflicts(role: str, provided: set[str]) -> bool:
    """A field some column already provides (full name vs first/last name count as one)."""
    if role in provided:
        return True
    if role == "fullName":
        return bool(provided & {"firstName", "lastName"})
    return role in ("firstName", "lastName") and "fullName" in provided


def judge(headers: list[str], columns: dict[int, list[str]], proposal: dict[str, str],
          stats: HeaderMapping) -> dict[int, str]:
    """Column index -> new header for the proposed fields the content agrees with (``"First Name (fld_a1)"``);
    counts accepted / rejected into ``stats``. ``remarks`` / ``ignore`` / unknown roles change nothing."""
    provided = _provided(headers)
    by_key = {header_key(h): r for h, r in proposal.items()}  # a cached answer of "fld_a1" serves "FLD-A1"
    renames: dict[int, str] = {}
    for k, values in columns.items():
        role = by_key.get(header_key(headers[k]))
        if role not in FIELD_ROLES:
            continue
        name = f"{ROLE_HEADERS[role]} ({headers[k]})"
        if _conflicts(role, provided) or not agrees(role, values) or header_role(name)[0] != role:
            stats.rejected += 1
            continue
        provided.add(role)
        renames[k] = name
        stats.accepted += 1
        stats.mapped[headers[k]] = role
    return renames


def _renamed(row: RawRow, headers: list[str], renames: dict[int, str]) -> RawRow:
    cells = tuple((renames[k], v) if k in renames and k < len(headers) and h == headers[k] else (h, v)
                  for k, (h, v) in enumerate(row.cells))
    return RawRow(row.row_id, row.sheet, row.row_number, cells)


def _proposal(signature: str, headers: list[str], columns: dict[int, list[str]], ask: AskFn,
              cache_get: Callable[[list[str]], dict[str, dict]] | None,
              cache_put: Callable[[dict[str, dict]], Any] | None, stats: HeaderMapping) -> dict[str, str] | None:
    """DeepSeek's ``{header: role}`` for a header row: from the cache, else asked (and cached); None on failure.

    The cache entry of a header row (``{"columns": {header: role}, "asked": [header, ...]}``) answers only when it
    was asked about every column asked now: a column empty in the first file with this header row is asked about
    in a later file that fills it (and the entry grows). An answer that maps nothing (another shape, or no column
    recognised) is not cached, so the row is asked again next time."""
    found = cache_get([signature]).get(signature) if cache_get else None
    cached = found.get("columns") if isinstance(found, dict) and isinstance(found.get("columns"), dict) else None
    wanted = [headers[k] for k in columns]
    if cached is not None and {header_key(h) for h in wanted} <= {header_key(h) for h in found.get("asked", cached)}:
        stats.cached += 1
        return cached
    stats.asked += 1
    try:
        proposal = ask(headers, {headers[k]: v for k, v in columns.items()})
    except Exception:  # noqa: BLE001 - a failed mapping falls back to today's behaviour, never fails the file
        stats.failed += 1
        return cached
    merged = {**(cached or {}), **proposal}
    if cache_put and proposal:
        asked = sorted(set(wanted) | set((found or {}).get("asked", cached or {})))
        with contextlib.suppress(Exception):  # the cache is an optimization
            cache_put({signature: {"columns": merged, "asked": asked}})
    return merged


def stream_unknown_headers(rows: Iterable[RawRow], ask: AskFn, *, signature: Callable[[list[str]], str],
                           cache_get: Callable[[list[str]], dict[str, dict]] | None = None,
                           cache_put: Callable[[dict[str, dict]], Any] | None = None,
                           stats: HeaderMapping | None = None) -> Iterator[RawRow]:
    """:func:`map_unknown_headers` for a stream: ``rows`` (file order) handed on one by one, the columns DeepSeek
    maps renamed; the counts go to ``stats`` (a new one when None) as the rows are consumed.

    A sheet's first :data:`SAMPLE_ROWS` rows (its header row and the sample checked against a proposal) are held
    until they are all read (or the sheet ends), its mapping is decided, then every row of the sheet passes
    through: at most :data:`SAMPLE_ROWS` rows are held, whatever the file's size. Each distinct header row is asked
    (or looked up in the cache) once per stream. Rows of sheets without an accepted mapping are the same objects.
    """
    stats = HeaderMapping() if stats is None else stats
    answers: dict[str, dict[str, str] | None] = {}  # one request per header row, also across sheets of a file
    decided: dict[str, dict[int, str]] = {}  # sheet index -> column renames (empty: rows pass unchanged)
    headers_of: dict[str, list[str]] = {}
    pending: list[RawRow] = []  # the first rows of the sheet being sampled
    pending_sheet: str | None = None

    def decide() -> Iterator[RawRow]:
        nonlocal pending, pending_sheet
        headers = [h for h, _ in pending[0].cells]
        columns = unmapped_columns(headers, pending)
        renames: dict[int, str] = {}
        if columns:
            key = signature(headers)
            if key not in answers:
                answers[key] = _proposal(key, headers, columns, ask, cache_get, cache_put, stats)
            renames = judge(headers, columns, answers[key] or {}, stats)
        decided[pending_sheet], headers_of[pending_sheet] = renames, headers
        held, pending, pending_sheet = pending, [], None
        for row in held:
            yield _renamed(row, headers, renames) if renames else row

    for row in rows:
        sheet = row.row_id.partition(":")[0]
        if sheet in decided:
            renames = decided[sheet]
            yield _renamed(row, headers_of[sheet], renames) if renames else row
            continue
        if pending_sheet is not None and sheet != pending_sheet:
            yield from decide()
        pending_sheet = sheet
        pending.append(row)
        if len(pending) >= SAMPLE_ROWS:
            yield from decide()
    if pending:
        yield from decide()


def map_unknown_headers(rows: list[RawRow], ask: AskFn, *, signature: Callable[[list[str]], str],
                        cache_get: Callable[[list[str]], dict[str, dict]] | None = None,
                        cache_put: Callable[[dict[str, dict]], Any] | None = None) -> tuple[list[RawRow], HeaderMapping]:
    """``rows`` (a parsed file's lead rows, file order) with the columns DeepSeek maps renamed, and the counts.

    Args:
        rows: lead rows; the rows of one sheet (same ``row_id`` prefix, consecutive) share the first row's header
            names.
        ask: the request (:func:`easycrm_pipeline.deepseek.header_map.ask_mapping` bound to a client); any
            exception it raises counts as ``failed``.
        signature: header row -> cache key.
        cache_get / cache_put: the standardization cache's ``get(keys) -> {key: entry}`` / ``put({key: entry})``;
            None: no cache.

    Returns:
        ``(rows, HeaderMapping)``; rows of sheets without an accepted mapping are the same objects.
    """
    stats = HeaderMapping()
    out = list(stream_unknown_headers(rows, ask, signature=signature, cache_get=cache_get, cache_put=cache_put,
                                      stats=stats))
    return out, stats


def stream_file_headers(rows: Iterable[RawRow], stats: HeaderMapping, settings, cache=None, options=None,
                        slot: Callable[[], ContextManager] | None = None) -> Iterator[RawRow]:
    """:func:`stream_unknown_headers` with the settings' DeepSeek client: the parse step's stream of lead rows with
    the columns DeepSeek maps renamed; ``stats`` gets the counts, ``usage`` and ``tokens`` as requests are made.
    Without ``settings.llm_enabled`` the rows pass unchanged.

    Args:
        rows: the file's lead rows in file order (``parsing.stream_file``'s iterator).
        stats: filled in while the stream is consumed (complete once it is exhausted).
        settings / cache / options / slot: as :func:`map_file_headers`; the answers are put into ``cache`` once
            ``rows`` is exhausted, not when a reading error (a file refused at its end) stops the stream.
    """
    if not settings.llm_enabled:
        yield from rows
        return
    kwargs = {}
    if options is not None:
        kwargs = {"read_timeout": options.read_timeout, "max_attempts": options.max_attempts,
                  "temperature": options.temperature}
    client: DeepSeekClient | None = None

    def ask(headers: list[str], columns: dict[str, list[str]]) -> dict[str, str]:
        nonlocal client
        if client is None:  # built on the first request: a file whose headers all map opens no connection
            client = DeepSeekClient.from_settings(settings, **kwargs)
        with slot() if slot else contextlib.nullcontext():
            mapping, usage = ask_mapping(client, headers, columns)
        stats.usage = stats.usage + usage
        stats.tokens = stats.usage.total_tokens
        return mapping

    # answers are written to the cache only once the whole file was read: a file refused at a later sheet leaves
    # nothing in the store (its request may have been made: the file is read as it goes)
    pending: dict[str, dict] = {}

    def cache_get(keys: list[str]) -> dict[str, dict]:
        found = cache.get([k for k in keys if k not in pending])
        return {**found, **{k: pending[k] for k in keys if k in pending}}

    try:
        yield from stream_unknown_headers(
            rows, ask, signature=lambda h: header_signature(h, settings.deepseek_model),
            cache_get=cache_get if cache else None, cache_put=pending.update if cache else None, stats=stats)
        if cache and pending:
            cache.put(pending)
    finally:
        if client is not None:
            client.close()


def map_file_headers(parsed: ParsedFile, settings, cache=None, options=None,
                     slot: Callable[[], ContextManager] | None = None) -> HeaderMapping:
    """Apply :func:`map_unknown_headers` to ``parsed.rows`` in place with the settings' DeepSeek client
    (:func:`stream_file_headers` over the list).

    Args:
        parsed: a parsed file whose lead rows are in ``rows`` (``parsing.read_file``).
        settings: :class:`~easycrm_pipeline.config.Settings`; nothing happens unless ``settings.llm_enabled``.
        cache: the standardization cache (``pipeline.cache.open_cache``), or None.
        options: :class:`~easycrm_pipeline.pipeline.standardizer.DeepSeekOptions` for the client, or None.
        slot: held around each request (one slot of the ``deepseek`` pool, like every DeepSeek request).
    """
    if not settings.llm_enabled or not parsed.rows:
        return HeaderMapping()
    stats = HeaderMapping()
    parsed.rows = list(stream_file_headers(parsed.rows, stats, settings, cache, options, slot))
    return stats


__all__ = ["HeaderMapping", "judge", "map_file_headers", "map_unknown_headers", "stream_file_headers",
           "stream_unknown_headers", "unmapped_columns"]
