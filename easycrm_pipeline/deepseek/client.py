"""HTTP client for DeepSeek chat completions: one batch of raw rows in, candidate lead fields per row out.

No Dagster here. Facts relied on (docs/deepseek.md and DeepSeek docs):
  * Error codes (https://api-docs.deepseek.com/quick_start/error_codes): 400 invalid format, 401 authentication
    fails, 402 insufficient balance, 422 invalid parameters -> not retried; 429 rate limit, 500 server error,
    503 server overloaded -> retry after a wait. 502/504 (proxies) are retried too.
  * Rate limit doc (https://api-docs.deepseek.com/quick_start/rate_limit): while a non-streaming request waits,
    the server keeps the connection open and sends **blank lines**; the body must be stripped before ``json.loads``.
    The server eventually closes the connection, and a blank body after ~60 s has been reported
    (deepseek-ai/DeepSeek-V3#450) -> retried. Because the blank lines reset httpx's per-read timeout, the client also
    enforces a total deadline per attempt (``total_timeout``).
  * JSON Output guide (https://api-docs.deepseek.com/guides/json_mode): content may be blank with
    ``finish_reason: "stop"`` (retried); ``max_tokens`` too small cuts the JSON (``finish_reason: "length"``, checked
    before parsing: the batch is split in two halves, never repaired).
  * ``finish_reason: "insufficient_system_resource"`` (DeepSeek chat-completion reference) means inference was
    interrupted for lack of server resources -> retried.
  * ``usage`` has ``prompt_cache_hit_tokens``, ``prompt_cache_miss_tokens``, ``completion_tokens``.
  * An endpoint or proxy may reflect the request, key included, in any reply (issue 16 item 7): everything that comes
    back is scrubbed of the key in ONE place (:meth:`DeepSeekClient._attempt`): the raw text before it is parsed,
    the decoded JSON strings after each decoding (a key written with ``\\uXXXX`` escapes comes back whole once
    decoded), the parser's error texts and transport errors' messages, so 200 contents, refusal texts, error bodies
    and SQL alike never carry it further. The forms scrubbed are the key, its stripped form and their escaped
    spellings (:func:`key_forms`): httpx quotes a refused header as ``b'Bearer sk-...\\n'``.

This is the only DeepSeek transport: batch standardization (:meth:`DeepSeekClient.standardize`) and any other JSON
question (:meth:`DeepSeekClient.complete_json`, used by ``easycrm ask``) share its retries, fence handling, error
mapping and scrubbing.
"""
from __future__ import annotations

import email.utils
import json
import logging
import random
import time
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import httpx
import tenacity

from easycrm_pipeline.config import DEEPSEEK, header_unsafe_position
from easycrm_pipeline.deepseek.errors import (
    DeepSeekBatchFailed, DeepSeekBatchRejected, DeepSeekError, DeepSeekFatal, ReplyError,
)
from easycrm_pipeline.deepseek.prompt import (
    Proposals, build_request, chat_body, default_max_tokens, standardizer_version,
)
from easycrm_pipeline.deepseek.reply import join_items, parse_content, parse_json_object
from easycrm_pipeline.models import RawRow

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = DEEPSEEK.base_url
DEFAULT_MODEL = DEEPSEEK.model

#: USD per 1M tokens, per model, peak and off-peak.
#: Source: DeepSeek "Models & Pricing" page (https://api-docs.deepseek.com/quick_start/pricing), as captured in a
#: stored snapshot dated 2026-11-15 - NOT checked live. That page says: use ``deepseek-flash`` (DeepSeek-V4.1-Flash);
#: the legacy name ``deepseek-v4-flash`` is still accepted, served by the Flash model and billed at Flash prices.
#: Since 2026-08-16 billing is peak / off-peak, off-peak = half of peak; peak hours 01:00-04:00 and 06:00-10:00 UTC
#: (weekdays, per the same page family). Before that date deepseek-v4-flash was $0.0028 hit / $0.14 miss / $0.28 out.
#: Re-check the page before trusting costs for budgeting.
PRICE_TABLES: dict[str, dict[str, dict[str, float]]] = {
    "deepseek-flash": {
        "peak": {"cache_hit": 0.006, "cache_miss": 0.30, "output": 1.20},
        "off_peak": {"cache_hit": 0.003, "cache_miss": 0.15, "output": 0.60},
    },
    "deepseek-v4-pro": {
        "peak": {"cache_hit": 0.044, "cache_miss": 1.32, "output": 3.96},
        "off_peak": {"cache_hit": 0.022, "cache_miss": 0.66, "output": 1.98},
    },
}
PRICE_TABLES["deepseek-v4-flash"] = PRICE_TABLES["deepseek-flash"]

#: Default price table for :meth:`Usage.cost_usd`: deepseek-v4-flash at the PEAK rate (an upper bound; off-peak
#: calls cost half). Keys: ``cache_hit``, ``cache_miss``, ``output`` in USD per 1M tokens.
DEFAULT_PRICE_TABLE: dict[str, float] = PRICE_TABLES["deepseek-v4-flash"]["peak"]

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


def key_forms(key: str | None) -> tuple[str, ...]:
    """The spellings of ``key`` that may show up in a text: the key as given, its stripped form, and the escaped
    forms Python's ``repr`` (httpx's "Illegal header value b'Bearer ...\\n'") and JSON write of each; longest
    first, blanks left out. ``None``/blank -> ``()``."""
    forms: set[str] = set()
    for value in {key or "", (key or "").strip()}:
        if not value.strip():
            continue
        forms.update({value, repr(value)[1:-1], json.dumps(value)[1:-1],
                      repr(value.encode("utf-8", "backslashreplace"))[2:-1]})
    return tuple(sorted((f for f in forms if f.strip()), key=len, reverse=True))


def scrub_key(value: Any, key: str | None, mask: str = "***") -> Any:
    """``value`` with every spelling of ``key`` (:func:`key_forms`) replaced by ``mask``, in strings and, recursively,
    in the strings (keys and values) of dicts, lists and tuples; other values returned as they are.

    Used on decoded JSON replies (issue 16 item 7, breaker finding 5) and on what ``easycrm ask`` shows."""
    forms = key_forms(key)
    if not forms:
        return value

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            for form in forms:
                if form in item:
                    item = item.replace(form, mask)
            return item
        if isinstance(item, dict):
            return {walk(k): walk(v) for k, v in item.items()}
        if isinstance(item, (list, tuple)):
            return type(item)(walk(v) for v in item)
        return item

    return walk(value)


def price_table_for(model: str, peak: bool = True) -> dict[str, float]:
    """The price table (USD per 1M tokens) for ``model``; unknown models get the Flash table."""
    tables = PRICE_TABLES.get(model, PRICE_TABLES["deepseek-flash"])
    return tables["peak" if peak else "off_peak"]


@dataclass
class Usage:
    """Tokens spent, summed over HTTP calls (units: tokens; ``calls``: HTTP requests that got an answer or error).

    ``prompt_cache_hit_tokens + prompt_cache_miss_tokens`` is the prompt size; ``completion_tokens`` the output.
    Add two with ``+``.
    """

    calls: int = 0
    prompt_cache_hit_tokens: int = 0
    prompt_cache_miss_tokens: int = 0
    completion_tokens: int = 0

    def __add__(self, other: "Usage") -> "Usage":
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            calls=self.calls + other.calls,
            prompt_cache_hit_tokens=self.prompt_cache_hit_tokens + other.prompt_cache_hit_tokens,
            prompt_cache_miss_tokens=self.prompt_cache_miss_tokens + other.prompt_cache_miss_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
        )

    @property
    def prompt_tokens(self) -> int:
        """Prompt tokens (hit + miss)."""
        return self.prompt_cache_hit_tokens + self.prompt_cache_miss_tokens

    @property
    def total_tokens(self) -> int:
        """Prompt + completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def cost_usd(self, price_table: Mapping[str, float] | None = None) -> float:
        """Cost in USD: tokens x price per 1M tokens (``cache_hit``, ``cache_miss``, ``output`` keys).

        ``None`` -> :data:`DEFAULT_PRICE_TABLE` (deepseek-v4-flash, peak rate).
        """
        p = DEFAULT_PRICE_TABLE if price_table is None else price_table
        return (self.prompt_cache_hit_tokens * p["cache_hit"] + self.prompt_cache_miss_tokens * p["cache_miss"]
                + self.completion_tokens * p["output"]) / 1_000_000

    def as_dict(self) -> dict[str, int]:
        """Plain dict (for logs / Dagster metadata)."""
        return {"calls": self.calls, "prompt_cache_hit_tokens": self.prompt_cache_hit_tokens,
                "prompt_cache_miss_tokens": self.prompt_cache_miss_tokens,
                "completion_tokens": self.completion_tokens}

    @classmethod
    def from_api(cls, usage: Any) -> "Usage":
        """One call's usage from the API's ``usage`` block (missing/garbled fields count 0; when only
        ``prompt_tokens`` is given the non-hit part counts as cache miss)."""
        def num(key: str) -> int:
            value = usage.get(key) if isinstance(usage, dict) else None
            return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0

        hit = num("prompt_cache_hit_tokens")
        miss = num("prompt_cache_miss_tokens")
        if not miss and num("prompt_tokens") > hit:
            miss = num("prompt_tokens") - hit
        return cls(calls=1, prompt_cache_hit_tokens=hit, prompt_cache_miss_tokens=miss,
                   completion_tokens=num("completion_tokens"))


@dataclass
class BatchAnswer:
    """What DeepSeek made of one batch.

    Attributes:
        items: row_id -> candidate fields ``{field: str | None}``: the ``LEAD_FIELDS`` the answer gave for the row
            (all seven, some or none; a field left out means the rules' proposal stands, docs/deepseek.md#the-exchange), not
            yet validated/normalized by the rules layer.
        missing: row_ids still without an item after one follow-up request for the rows missing from the first
            answer (and rows whose split sub-request failed); the caller falls back to its rules for them.
        usage: tokens of every HTTP call made for this batch, including failed attempts that reported usage.
        errors: human-readable notes of what went wrong on the way (retries, splits, ignored items); never the key.
        standardizer: version string (model + prompt hash) to store with the leads.
    """

    items: dict[str, dict[str, str | None]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    errors: list[str] = field(default_factory=list)
    standardizer: str = ""


class _Retryable(Exception):
    """Internal: one attempt failed in a way worth retrying."""

    def __init__(self, reason: str, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.status = status


_LENGTH = object()  # marker: reply cut at max_tokens


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` header -> seconds to wait (``None`` when absent/garbled). Accepts delta-seconds (``"2"``,
    ``"1.5"``) or an HTTP date (RFC 9110); a date in the past gives 0."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


class DeepSeekClient:
    """Standardizes batches of raw rows with DeepSeek chat completions (docs/deepseek.md#the-exchange).

    Args:
        api_key: DeepSeek API key (sent stripped as ``Authorization: Bearer <key>``; never logged, never in
            messages/repr; its given and stripped forms are both scrubbed).
        base_url: API root; requests go to ``{base_url}/chat/completions``.
        model: model name (default ``deepseek-v4-flash``).
        connect_timeout: seconds to establish the TCP/TLS connection.
        read_timeout: seconds allowed between two received chunks (default 120 s).
        total_timeout: seconds allowed for one whole attempt, keep-alive blank lines included (default 300 s).
        max_attempts: HTTP attempts per request before :class:`DeepSeekBatchFailed` (default 3).
        backoff_base / backoff_cap: exponential backoff with full jitter: wait ``uniform(0, min(cap, base * 2**(n-1)))``
            seconds after failed attempt ``n``; a ``Retry-After`` header replaces it (capped at ``max_retry_after``).
        max_retry_after: longest ``Retry-After`` honoured, seconds.
        temperature: sampling temperature sent.
        max_tokens_per_row: completion budget per row: ``max_tokens`` = 200 + this x rows, capped at 8192 tokens.
        sleep: ``sleep(seconds)`` used between attempts (inject a fake in tests).
        rng: ``() -> float in [0, 1)`` for the jitter (inject in tests).
        http_client: an ``httpx.Client`` to use (the client then does not close it).

    Use as a context manager or call :meth:`close`. Thread-safe as far as ``httpx.Client`` is (one client may serve
    several threads).
    """

    def __init__(self, api_key: str, base_url: str = DEFAULT_BASE_URL, model: str = DEFAULT_MODEL, *,
                 connect_timeout: float = DEEPSEEK.connect_timeout, read_timeout: float = DEEPSEEK.read_timeout,
                 total_timeout: float = DEEPSEEK.total_timeout, max_attempts: int = DEEPSEEK.max_attempts,
                 backoff_base: float = 1.0, backoff_cap: float = 30.0, max_retry_after: float = 120.0,
                 temperature: float = DEEPSEEK.temperature, max_tokens_per_row: int = DEEPSEEK.max_tokens_per_lead,
                 sleep: Callable[[float], None] = time.sleep, rng: Callable[[], float] = random.random,
                 http_client: httpx.Client | None = None) -> None:
        if not api_key or not api_key.strip():
            raise ValueError("DeepSeekClient needs an API key")
        bad = header_unsafe_position(api_key.strip())
        if bad is not None:  # httpx would refuse the header and quote it in its error
            raise ValueError(f"the DeepSeek API key holds a control or non-ASCII character (at position {bad + 1})")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.__api_key = api_key.strip()
        self.__given_key = api_key
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.total_timeout = total_timeout
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_retry_after = max_retry_after
        self.temperature = temperature
        self.max_tokens_per_row = max_tokens_per_row
        self._sleep = sleep
        self._rng = rng
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(
            timeout=httpx.Timeout(connect=connect_timeout, read=read_timeout, write=30.0, pool=30.0),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
        )

    # -- construction / lifetime -------------------------------------------------------------------------------
    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> "DeepSeekClient":
        """Build from ``easycrm_pipeline.config.Settings`` (``deepseek_api_key``, ``deepseek_base_url``,
        ``deepseek_model``). Raises ``ValueError`` when no key is set."""
        return cls(settings.deepseek_api_key or "", settings.deepseek_base_url, settings.deepseek_model, **kwargs)

    def close(self) -> None:
        """Close the underlying HTTP client (when this object created it)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> "DeepSeekClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DeepSeekClient(base_url={self.base_url!r}, model={self.model!r}, api_key='***')"

    @property
    def standardizer(self) -> str:
        """Version string for the leads: model + prompt version + prompt hash."""
        return standardizer_version(self.model)

    # -- public API --------------------------------------------------------------------------------------------
    def standardize(self, rows: Sequence[RawRow], proposals: Proposals | None = None) -> BatchAnswer:
        """Standardize one batch (usually 10 rows) with as few requests as possible.

        Steps: one request for the whole batch (retried on 429/500/502/503/504, timeouts, connection errors, blank
        body, blank content, unparseable JSON; ``Retry-After`` honoured) -> if cut at ``max_tokens``
        (``finish_reason == "length"``) split in two halves, recursively, each half keeping the parent's
        ``max_tokens`` -> join items on ``id`` -> rows missing from the answer are re-requested once, together, in
        one request holding just them -> whatever is still missing is reported in ``missing``.

        Args:
            rows: the batch; row ids must be unique.
            proposals: the offline rules' fields per row id, sent as each lead's ``"_proposal"`` so the model
                answers only its corrections (issue 13); None sends the raw rows alone.

        Returns:
            :class:`BatchAnswer` (``items`` row_id -> the fields answered, ``missing`` row_ids, ``usage``,
            ``errors``).

        Raises:
            DeepSeekFatal: HTTP 401 ("DeepSeek rejected the API key") or 402 ("DeepSeek account is out of balance"),
                on any request of the batch; stop the whole file.
            DeepSeekBatchRejected: the first request got HTTP 400/422 (or another non-retryable 4xx); quarantine.
            DeepSeekBatchFailed: the first request kept failing through ``max_attempts``, a single row was cut at
                ``max_tokens``, or no row at all could be answered; dead-letter the batch.
            ValueError: ``rows`` is empty or has duplicate row ids.
        """
        rows = list(rows)
        if not rows:
            raise ValueError("standardize needs at least one row")
        if len({r.row_id for r in rows}) != len(rows):
            raise ValueError("row ids in a batch must be unique")
        answer = BatchAnswer(standardizer=self.standardizer)
        omitted: list[str] = []  # rows the answer left out -> re-requested once
        failed: list[str] = []   # rows whose sub-request failed (cut alone, retries exhausted) -> reported as is
        try:
            budget = default_max_tokens(len(rows), self.max_tokens_per_row)
            self._standardize_group(rows, budget, answer, omitted, failed, proposals, top=True)
            if omitted:
                again = [r for r in rows if r.row_id in set(omitted)]
                answer.errors.append(f"{len(again)} row(s) missing from the answer, re-requested on their own: "
                                     + ", ".join(r.row_id for r in again))
                still: list[str] = []
                budget = default_max_tokens(len(again), self.max_tokens_per_row)
                self._standardize_group(again, budget, answer, still, failed, proposals, top=False)
                failed.extend(still)
        except DeepSeekError as exc:
            exc.usage = answer.usage
            raise
        if not answer.items:
            raise DeepSeekBatchFailed("DeepSeek answered no row of the batch: " + "; ".join(answer.errors[-3:]),
                                      usage=answer.usage)
        answer.items = {r.row_id: answer.items[r.row_id] for r in rows if r.row_id in answer.items}
        answer.missing = [r.row_id for r in rows if r.row_id not in answer.items]
        return answer

    # -- internals ---------------------------------------------------------------------------------------------
    def _standardize_group(self, rows: list[RawRow], max_tokens: int, answer: BatchAnswer, omitted: list[str],
                           failed: list[str], proposals: Proposals | None, *, top: bool) -> None:
        """Request ``rows``; on a cut reply split in halves. Fills ``answer.items``/``errors``/``usage`` in place,
        appends row ids left out of an answer to ``omitted`` and row ids whose sub-request failed to ``failed``.

        ``top``: errors of this request propagate (the whole batch failed). Otherwise a rejected/failed sub-request
        marks its rows failed and records the error; :class:`DeepSeekFatal` always propagates.
        """
        try:
            parsed = self._request(rows, max_tokens, answer.usage, proposals)
        except DeepSeekFatal:
            raise
        except (DeepSeekBatchRejected, DeepSeekBatchFailed) as exc:
            if top:
                raise
            answer.errors.append(f"sub-request for {len(rows)} row(s) failed: {exc.reason}")
            failed.extend(r.row_id for r in rows)
            return
        if parsed is _LENGTH:
            if len(rows) == 1:
                reason = f"reply cut at max_tokens={max_tokens} even for the single row {rows[0].row_id}"
                if top:
                    raise DeepSeekBatchFailed(reason, usage=answer.usage)
                answer.errors.append(reason)
                failed.append(rows[0].row_id)
                return
            half = (len(rows) + 1) // 2
            answer.errors.append(f"reply cut at max_tokens={max_tokens} for {len(rows)} rows: split {half}+"
                                 f"{len(rows) - half}")
            # Halves keep the parent's budget: the cut shows rows need more than the per-row estimate.
            self._standardize_group(rows[:half], max_tokens, answer, omitted, failed, proposals, top=False)
            self._standardize_group(rows[half:], max_tokens, answer, omitted, failed, proposals, top=False)
            return
        matched, missing, ignored = join_items(rows, parsed)
        for item in ignored:
            answer.errors.append(f"ignored reply item ({item['reason']})")
        answer.items.update(matched)
        omitted.extend(missing)

    def complete_json(self, system: str, user: str, *, max_tokens: int = 600) -> tuple[dict[str, Any], Usage]:
        """One JSON-mode chat request (``system`` prompt first, one ``user`` message) through the same retries,
        fence handling, error mapping and key scrubbing as :meth:`standardize`.

        Returns:
            ``(the content's JSON object, usage)``; the object is already scrubbed of the API key.

        Raises:
            DeepSeekFatal: HTTP 401 / 402.
            DeepSeekBatchRejected: HTTP 400 / 422 / other non-retryable 4xx.
            DeepSeekBatchFailed: retryable trouble (429, 5xx, timeouts, blank or non-JSON content, a reply cut at
                ``max_tokens``) through every attempt.
        """
        usage = Usage()
        body = chat_body(self.model, system, user, max_tokens, self.temperature)
        try:
            doc = self._call(body, usage, parse_json_object, "DeepSeek request")
        except DeepSeekError as exc:
            exc.usage = usage
            raise
        if doc is _LENGTH:
            raise DeepSeekBatchFailed(f"DeepSeek's answer was cut at max_tokens={max_tokens}", usage=usage)
        return doc, usage

    def _request(self, rows: list[RawRow], max_tokens: int, usage: Usage, proposals: Proposals | None = None) -> Any:
        """POST one batch request with retries. Returns the parsed ``{"leads": [...]}`` or ``_LENGTH``."""
        body = build_request(rows, self.model, max_tokens=max_tokens, temperature=self.temperature,
                             proposals=proposals)
        return self._call(body, usage, parse_content, f"DeepSeek request for {len(rows)} row(s)")

    def _call(self, body: dict[str, Any], usage: Usage, parse: Callable[[Any], Any], what: str) -> Any:
        """POST ``body`` with retries (tenacity); ``parse(content)`` raising :class:`ReplyError` is retried too.
        Returns ``parse``'s value or ``_LENGTH``; raises :class:`DeepSeekBatchFailed` naming ``what``."""
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=tenacity.retry_if_exception_type(_Retryable),
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            return retrying(self._attempt, body, usage, parse)
        except _Retryable as exc:
            raise DeepSeekBatchFailed(
                f"{what} failed after {self.max_attempts} attempt(s): {exc.reason}",
                status=exc.status, usage=usage, attempts=self.max_attempts) from None

    def _wait(self, state: tenacity.RetryCallState) -> float:
        """Seconds to sleep after a failed attempt: ``Retry-After`` if the server sent one, else full jitter."""
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return min(exc.retry_after, self.max_retry_after)
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** (state.attempt_number - 1)))
        return self._rng() * ceiling

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("DeepSeek attempt %d/%d failed (%s); retrying in %.2f s", state.attempt_number,
                    self.max_attempts, getattr(exc, "reason", type(exc).__name__), wait)

    def redact(self, text: Any) -> Any:
        """``text`` with every spelling of the API key (as given, stripped, escaped: :func:`key_forms`) replaced by
        ``***`` (so ``Bearer <key>`` reads ``Bearer ***``). A decoded JSON value (dict / list) is scrubbed in every
        string it holds; anything else is made a string first."""
        if not isinstance(text, (str, dict, list, tuple)):
            text = str(text)
        return scrub_key(text, self.__given_key)

    def _scrub(self, text: str) -> str:
        """Server/library-provided text made fit for a one-line reason: the API key removed, whitespace runs
        (newlines included) collapsed to one space, control/format characters (e.g. U+202E) dropped, cut at 300
        characters."""
        text = " ".join(self.redact(text).split())
        text = "".join(c for c in text if not unicodedata.category(c).startswith("C"))
        return text if len(text) <= 300 else text[:300] + "..."

    def _attempt(self, body: dict[str, Any], usage: Usage, parse: Callable[[Any], Any] = parse_content) -> Any:
        url = f"{self.base_url}/chat/completions"
        headers = {"Authorization": f"Bearer {self.__api_key}", "Content-Type": "application/json",
                   "Accept": "application/json"}
        payload = json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")
        deadline = time.monotonic() + self.total_timeout
        try:
            with self._http.stream("POST", url, content=payload, headers=headers) as response:
                chunks: list[bytes] = []
                for chunk in response.iter_bytes():
                    chunks.append(chunk)
                    if time.monotonic() > deadline:
                        raise _Retryable(f"no complete answer within {self.total_timeout:g} s")
                raw = b"".join(chunks)
                status = response.status_code
                resp_headers = response.headers
        except httpx.TimeoutException as exc:
            raise _Retryable(f"timeout ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise _Retryable(f"connection error ({type(exc).__name__}: {self._scrub(exc)})") from None

        # The one place the key is scrubbed from what came back (issue 16 item 7): 200 contents, refusals and
        # error bodies alike, before anything is parsed, logged, raised or stored - the raw text, then every string
        # once decoded (``\u0073k-...`` escapes decode to the key), then the content's parsed value / parse error.
        text = self.redact(raw.decode("utf-8", errors="replace")).strip()  # keep-alive blank lines before the JSON
        data: Any = None
        if text:
            try:
                data = self.redact(json.loads(text))
            except (ValueError, RecursionError):
                data = None
        if isinstance(data, dict) and isinstance(data.get("usage"), dict):
            usage_add = Usage.from_api(data["usage"])
        else:
            usage_add = Usage(calls=1)
        usage.calls += usage_add.calls
        usage.prompt_cache_hit_tokens += usage_add.prompt_cache_hit_tokens
        usage.prompt_cache_miss_tokens += usage_add.prompt_cache_miss_tokens
        usage.completion_tokens += usage_add.completion_tokens

        if status != 200:
            message = self._error_message(data, text)
            if status == 401:
                raise DeepSeekFatal("DeepSeek rejected the API key", status=401)
            if status == 402:
                raise DeepSeekFatal("DeepSeek account is out of balance", status=402)
            if status in RETRYABLE_STATUSES or status >= 500:
                raise _Retryable(f"HTTP {status}: {message}",
                                 retry_after=parse_retry_after(resp_headers.get("retry-after")), status=status)
            raise DeepSeekBatchRejected(f"DeepSeek rejected the request (HTTP {status}): {message}", status=status)

        if not text:
            raise _Retryable("blank body (only keep-alive whitespace)", status=200)
        if not isinstance(data, dict):
            raise _Retryable(f"unparseable response body ({len(text)} chars)", status=200)
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise _Retryable("response has no choices", status=200)
        choice = choices[0]
        message_obj = choice.get("message") if isinstance(choice.get("message"), dict) else {}
        finish_reason = choice.get("finish_reason")
        if finish_reason == "length":  # before parsing: cut JSON is never repaired
            return _LENGTH
        if finish_reason == "insufficient_system_resource":  # DeepSeek-specific: inference interrupted
            raise _Retryable("inference interrupted (finish_reason insufficient_system_resource)", status=200)
        try:
            return self.redact(parse(message_obj.get("content")))
        except ReplyError as exc:
            raise _Retryable(self.redact(exc.reason), status=200) from None

    def _error_message(self, data: Any, text: str) -> str:
        if isinstance(data, dict):
            err = data.get("error")
            if isinstance(err, dict) and err.get("message"):
                return self._scrub(err["message"])
            if isinstance(err, str):
                return self._scrub(err)
        return self._scrub(text[:200]) if text else "(empty body)"


__all__ = [
    "BatchAnswer", "DEFAULT_BASE_URL", "DEFAULT_MODEL", "DEFAULT_PRICE_TABLE", "DeepSeekClient", "PRICE_TABLES",
    "RETRYABLE_STATUSES", "Usage", "key_forms", "parse_retry_after", "price_table_for", "scrub_key",
]
