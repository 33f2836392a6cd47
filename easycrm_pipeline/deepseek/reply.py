"""Turning DeepSeek's ``choices[0].message.content`` into per-row candidate fields. Pure functions, no I/O.

Replies seen in the wild (cases 15, 16, 18; docs/deepseek.md): wrapped in ```json fences or prose, blank (JSON mode
replaces non-JSON output with spaces, https://api-docs.deepseek.com/guides/json_mode note 4), items missing,
reordered, merged, without id, or with invented ids. So: parse leniently, join strictly on ``id``, never on position.
"""
from __future__ import annotations

import json
import re
from typing import Any, Iterable, Sequence

from easycrm_pipeline.deepseek.errors import BadJson, BlankContent
from easycrm_pipeline.models import LEAD_FIELDS, RawRow

_FENCE_RE = re.compile(r"\A\s*```[A-Za-z0-9_-]*[ \t]*\r?\n?(.*?)\r?\n?[ \t]*```\s*\Z", re.DOTALL)
_EMAIL_RE = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
_MAX_SCAN = 200  # how many '{' / '[' positions raw_decode tries before giving up


def _as_document(value: Any) -> dict[str, Any] | None:
    """Normalize a decoded JSON value to ``{"leads": [...]}`` or return None when it is not lead-shaped."""
    if isinstance(value, list):
        return {"leads": value}
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("leads"), list):
        return value
    lists = [v for v in value.values() if isinstance(v, list)]
    if len(lists) == 1:  # {"results": [...]} or similar
        return {**value, "leads": lists[0]}
    if "id" in value or "row_id" in value:  # a single lead object
        return {"leads": [value]}
    return None


def parse_content(content: str | None) -> dict[str, Any]:
    """Parse the assistant content into ``{"leads": [item, ...]}``.

    Order: ``json.loads`` of the whole text -> the text inside a single leading/trailing fence (```json ... ``` or
    ``` ... ```) -> ``json.JSONDecoder().raw_decode`` from each ``{`` (then ``[``) in turn, which skips prose before
    and after the JSON. A top-level list is wrapped as ``{"leads": list}``; a dict with exactly one list value
    (e.g. ``{"results": [...]}``) is accepted with that list as ``leads``. Partial / repaired JSON is never accepted.

    Args:
        content: ``choices[0].message.content`` (may be ``None``).

    Returns:
        A dict whose ``"leads"`` value is a list (items not validated here; see :func:`join_items`).

    Raises:
        BlankContent: ``content`` is ``None``, empty or whitespace only.
        BadJson: no lead-shaped JSON object can be decoded.
    """
    return _decode(content, _as_document, "parseable JSON")


def parse_json_object(content: str | None) -> dict[str, Any]:
    """Parse an assistant content that should be one JSON object (e.g. ``easycrm ask``'s ``{"sql": ...}``), with
    the same leniency as :func:`parse_content`: whole text, then a single fence, then the first decodable object.

    Raises:
        BlankContent: ``content`` is ``None``, empty or whitespace only.
        BadJson: no JSON object can be decoded.
    """
    return _decode(content, lambda value: value if isinstance(value, dict) else None, "a JSON object")


def _decode(content: str | None, accept: Any, wanted: str) -> dict[str, Any]:
    """The first value ``accept`` turns into a dict, trying the whole text, the text inside one fence, then
    ``raw_decode`` from each ``{`` (then ``[``). Raises :class:`BlankContent` / :class:`BadJson`."""
    if content is None or not str(content).strip():
        raise BlankContent("DeepSeek returned blank content")
    text = str(content).strip()
    candidates = [text]
    fenced = _FENCE_RE.match(text)
    if fenced:
        candidates.append(fenced.group(1).strip())
    for candidate in candidates:
        try:
            doc = accept(json.loads(candidate))
        except (ValueError, RecursionError):
            continue
        if doc is not None:
            return doc
    decoder = json.JSONDecoder()
    for opener in ("{", "["):
        start = text.find(opener)
        tries = 0
        while start != -1 and tries < _MAX_SCAN:
            tries += 1
            try:
                value, _end = decoder.raw_decode(text, start)
            except (ValueError, RecursionError):
                value = None
            doc = accept(value) if value is not None else None
            if doc is not None:
                return doc
            start = text.find(opener, start + 1)
    snippet = text[:80].replace("\n", " ")
    raise BadJson(f"DeepSeek content is not {wanted} (starts {snippet!r}, {len(text)} chars)")


def _number_text(value: int | float) -> str | None:
    """A JSON number as text: ``3`` -> ``"3"``, ``3.0`` -> ``"3"``, ``2.5`` -> ``"2.5"``; NaN/infinity -> None."""
    if isinstance(value, int):
        return str(value)
    if value != value or value in (float("inf"), float("-inf")):
        return None
    return str(int(value)) if value.is_integer() else repr(value)


def coerce_value(value: Any) -> str | None:
    """A lead field value as text or None: strings stripped (blank -> None), numbers/bools as text, lists joined
    with ``"; "``, objects as compact JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _number_text(value)
    if isinstance(value, (list, tuple)):
        parts = [p for p in (coerce_value(v) for v in value) if p]
        return "; ".join(parts) or None
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _item_id(item: dict[str, Any]) -> str | None:
    for key in ("id", "row_id"):
        if key in item and item[key] is not None:
            value = item[key]
            if isinstance(value, (str, int)) and not isinstance(value, bool):
                text = str(value).strip()
                return text or None
            return "\x00invalid"  # lists, dicts...: an id we never sent
    return None


def raw_emails(row: RawRow) -> set[str]:
    """Every email address found in the row's raw cells, trimmed and lower-cased."""
    found: set[str] = set()
    for _header, value in row.cells:
        for match in _EMAIL_RE.findall(value or ""):
            found.add(match.strip().lower().rstrip("."))
    return found


def _merged(item: dict[str, Any], row_id: str, emails_of: dict[str, set[str]]) -> bool:
    """True when the item's email holds an address of another row of the batch that its own row does not have:
    the model merged two leads into one item (GalTransl#11 kind), so its fields can't be trusted."""
    value = coerce_value(item.get("email"))
    if not value:
        return False
    found = {m.lower().rstrip(".") for m in _EMAIL_RE.findall(value)}
    own = emails_of.get(row_id, set())
    return any(addr not in own and any(addr in e for rid, e in emails_of.items() if rid != row_id)
               for addr in found)


def _fields(item: dict[str, Any]) -> dict[str, str | None]:
    """The item's lead fields, only those it gives (docs/deepseek.md#the-exchange: a field left out means the rules' value
    stands, so it must stay absent rather than become null)."""
    return {name: coerce_value(item[name]) for name in LEAD_FIELDS if name in item}


def join_items(rows: Sequence[RawRow], parsed: dict[str, Any]
               ) -> tuple[dict[str, dict[str, str | None]], list[str], list[dict[str, Any]]]:
    """Join the reply's items to the rows sent, on ``id`` (``row_id`` accepted too), never on position.

    Rules (case 18):
      * an item whose id was sent and appears once -> matched;
      * an id that appears in more than one item -> every copy ignored (ambiguous), the row stays missing;
      * an id that was not sent (invented, merged ``"a,b"``, non-string) -> ignored;
      * an item whose ``email`` holds another row's raw address (and not its own row's) -> ignored as merged;
      * an item without id is accepted only when its ``email`` (trimmed, case-insensitive) equals an address in the
        raw cells of exactly one row that is still unmatched after the id pass; otherwise ignored;
      * fields outside ``LEAD_FIELDS`` (``fields.FIELDS``) are dropped, fields left out stay left out (the rules' value stands);
        values are coerced by :func:`coerce_value`;
      * items that are not objects are ignored.

    Args:
        rows: the rows sent, in request order.
        parsed: the output of :func:`parse_content` (``{"leads": [...]}``).

    Returns:
        ``(matched, missing, ignored)``: ``matched`` maps row_id -> ``{field: str | None}`` with the
        ``LEAD_FIELDS`` the item gave (all seven, some, or none: ``{"id": ...}`` alone accepts the whole proposal); ``missing`` lists the row_ids without an item, in request order; ``ignored`` lists
        ``{"reason": str, "item": <raw item>}`` for every item not used.
    """
    items = parsed.get("leads") if isinstance(parsed, dict) else None
    items = items if isinstance(items, list) else []
    sent = {row.row_id: row for row in rows}
    ignored: list[dict[str, Any]] = []
    by_id, no_id = _group_by_id(items, sent, ignored)
    emails_of = {rid: raw_emails(row) for rid, row in sent.items()}
    matched = _match_by_id(by_id, emails_of, ignored)
    _match_by_email(no_id, emails_of, matched, ignored)
    missing = [row.row_id for row in rows if row.row_id not in matched]
    # Keep request order in ``matched`` too (handy for logs and tests).
    ordered = {row.row_id: matched[row.row_id] for row in rows if row.row_id in matched}
    return ordered, missing, ignored


def _group_by_id(items: list[Any], sent: dict[str, RawRow], ignored: list[dict[str, Any]]
                 ) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
    """``(items by sent id, items without id)``; non-objects and unknown ids go to ``ignored``."""
    by_id: dict[str, list[dict[str, Any]]] = {}
    no_id: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, dict):
            ignored.append({"reason": "not an object", "item": item})
            continue
        item_id = _item_id(item)
        if item_id is None:
            no_id.append(item)
        elif item_id not in sent:
            ignored.append({"reason": "unknown id", "item": item})
        else:
            by_id.setdefault(item_id, []).append(item)
    return by_id, no_id


def _match_by_id(by_id: dict[str, list[dict[str, Any]]], emails_of: dict[str, set[str]],
                 ignored: list[dict[str, Any]]) -> dict[str, dict[str, str | None]]:
    """The id pass: an id given once and not merged with another row's email is matched."""
    matched: dict[str, dict[str, str | None]] = {}
    for row_id, group in by_id.items():
        if len(group) != 1:
            ignored.extend({"reason": "duplicate id", "item": it} for it in group)
        elif _merged(group[0], row_id, emails_of):
            ignored.append({"reason": "merged with another row", "item": group[0]})
        else:
            matched[row_id] = _fields(group[0])
    return matched


def _match_by_email(no_id: list[dict[str, Any]], emails_of: dict[str, set[str]],
                    matched: dict[str, dict[str, str | None]], ignored: list[dict[str, Any]]) -> None:
    """The email pass: an item without id whose email is in exactly one still-unmatched row's raw cells."""
    unmatched_emails = {rid: emails for rid, emails in emails_of.items() if rid not in matched}
    for item in no_id:
        email = coerce_value(item.get("email"))
        email = email.lower() if email else None
        hits = [rid for rid, emails in unmatched_emails.items() if email and email in emails]
        if len(hits) == 1:
            matched[hits[0]] = _fields(item)
            del unmatched_emails[hits[0]]
        else:
            reason = "no id and no email" if not email else (
                "no id, email matches no unmatched row" if not hits else "no id, email matches several rows")
            ignored.append({"reason": reason, "item": item})


def iter_row_ids(rows: Iterable[RawRow]) -> list[str]:
    """The row ids of ``rows`` in order (small helper for logs)."""
    return [row.row_id for row in rows]


__all__ = ["coerce_value", "iter_row_ids", "join_items", "parse_content", "parse_json_object", "raw_emails"]
