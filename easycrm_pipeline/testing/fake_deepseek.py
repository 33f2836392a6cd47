"""A fake DeepSeek chat-completions server speaking the OpenAI-compatible wire format (stdlib only).

In tests::

    with FakeDeepSeek(latency=0.2) as fake:
        client = DeepSeekClient("sk-test", fake.base_url)
        fake.script([{"status": 429, "headers": {"Retry-After": "2"}}, {"transform": "fenced"}])
        ...
        assert fake.peak_in_flight == 5 and len(fake.requests) == 3

Standalone (benchmarks, Dagster runs in other processes)::

    python -m easycrm_pipeline.testing.fake_deepseek --port 0 --latency 2.0 --port-file /tmp/port
    # prints "FAKE_DEEPSEEK_URL=http://127.0.0.1:<port>" then "FAKE_DEEPSEEK_PORT=<port>",
    # and writes "<port>\n" to the port file (atomically, once listening); SIGTERM/SIGINT stop it
    curl http://127.0.0.1:<port>/_stats    # {"peak_in_flight", "in_flight", "request_count", "script_left"}
    curl -X POST http://127.0.0.1:<port>/_reset
    curl -X POST -d '[{"status": 503}]' http://127.0.0.1:<port>/_script

Endpoints: ``POST /chat/completions`` (also ``/v1/chat/completions``), ``GET /models``, ``GET /_stats``,
``POST /_reset``, ``POST /_script`` (JSON list of actions appended to the FIFO script), ``POST /_default`` (JSON
action dict replacing the default action).

Request validation (like the real API, DeepSeek error codes page): missing/blank ``Authorization: Bearer`` or a
wrong key (when ``api_key`` is set) -> 401; body not JSON -> 400; model not in :data:`MODELS` -> 400 "Model Not
Exist" (``deepseek-chat`` was retired on 2026-07-24); messages missing/invalid, last user content not JSON with a
``leads`` list (or, for ``easycrm ask``, a ``question`` string; for a header-mapping request ``headers`` and
``columns`` lists, answered by :func:`header_answer`), ``response_format`` not ``{"type": "json_object"}`` or no "json" word in the prompt -> 400;
``max_tokens`` / ``temperature`` out of range or ``thinking.type`` not enabled/disabled -> 422.

Answer shape (``answer``, docs/deepseek.md#the-exchange): ``"corrections"`` (default) answers, for a request lead carrying the
rules' proposal under ``"_proposal"``, only the fields where the fake's own answer differs from that proposal
(``{"id": "0:2"}`` when it agrees with everything); a lead without a proposal gets all seven fields.
``"full"`` always answers all seven fields (what the pipeline asked for before proposals were sent). Request-lead
values that are not strings (such as ``_proposal``) are context, never raw cells.

Speed (``latency`` + ``tokens_per_second``): an answer leaves ``latency + completion_tokens / tokens_per_second``
seconds after its request was read (no token part when ``tokens_per_second`` is unset; the fake's own work to make
the answer counts in that time, as a model's does in DeepSeek's), so shorter answers come back sooner,
as with DeepSeek, whose time is dominated by output tokens. Completion tokens are approximated as
``ceil(len(content) / 4)``.

In flight: a chat request counts from the moment its body is read until its answer *starts to leave* (the status
line is about to be written), never until it is flushed: a client holding an answer can not see it still counted,
so ``peak_in_flight`` never exceeds the client's own concurrency on a loaded machine.

An *action* (one per ``/chat/completions`` request; the FIFO script first, else the default action) is a dict:

    status       int, default 200. Non-200 -> JSON error body ``{"error": {"message", "type", "param", "code"}}``.
    error        error message for non-200 (default: DeepSeek's wording for the status).
    headers      extra response headers, e.g. ``{"Retry-After": "2"}``.
    latency      fixed seconds before sending anything (slow headers); default: the server's ``latency``.
    tokens_per_second  override the server's ``tokens_per_second`` for this answer.
    answer       "corrections" or "full": override the server's answer shape for this request.
    keepalive    ``{"lines": n, "interval": s}``: send 200 headers, then n ``"\\n"`` lines s seconds apart
                 (chunked), then the body - what DeepSeek does while a request waits (rate-limit doc).
    raw_body     exact body text to send (e.g. ``""`` for a blank body, ``"\\n\\n \\n"``); overrides everything below.
    content      exact ``choices[0].message.content`` (str or None); skips the default answer.
    leads        list of items: content = ``json.dumps({"leads": leads})``.
    transform    how to derive content from the default answer; one of (or a list of):
                   "fenced" (```json ... ```), "fenced_plain" (``` ... ```), "prose" (text before/after),
                   "blank" (""), "spaces" ("   \\n  "), "null" (None), "reverse", "drop_id" (first item loses id),
                   "extra_id" (adds an item with an unknown id), "merge" (first two items merged into one, id of the
                   first), "duplicate" (first item repeated), "missing:<id>,<id>" (drop those ids),
                   "missing_first" (drop the first item), "truncate" (cut JSON, finish_reason "length"),
                   "row_id" (items use key "row_id" instead of "id").
    finish_reason  override (default "stop", "length" for truncate).
    usage        dict merged into the computed usage block.
    disconnect   True: close the socket without answering (client sees a connection error).
    echo         True: a reflecting endpoint; every default answer item gets ``"remarks": "echo: $AUTHORIZATION"``.

``$AUTHORIZATION`` in ``content``, ``leads``, ``raw_body``, ``error`` or an ``echo`` item is replaced by the request's
``Authorization`` header as received (``Bearer <key>``): an endpoint or proxy reflecting the request, key included.

Server-wide behaviour: ``cut_above=N``: any request with more than N leads gets cut JSON with finish_reason
"length" (unless the action gives ``content``/``leads``/``raw_body``).
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import re
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODELS = ("deepseek-v4-flash", "deepseek-flash", "deepseek-v4-pro")
LEAD_FIELDS = ("firstName", "lastName", "title", "company", "email", "phone", "remarks")
#: The default answer to an ``easycrm ask`` request (user message ``{"question": ...}``): ``{"sql": QUESTION_SQL}``.
QUESTION_SQL = 'SELECT count(*) AS "leads" FROM leads'
#: Answer shapes: only the fields that differ from the request's ``_proposal``, or all seven.
ANSWER_SHAPES = ("corrections", "full")

_STATUS_TEXT = {
    400: ("Invalid Format", "invalid_request_error"),
    401: ("Authentication Fails, Your api key is invalid", "authentication_error"),
    402: ("Insufficient Balance", "invalid_request_error"),
    422: ("Invalid Parameters", "invalid_request_error"),
    429: ("Rate Limit Reached", "rate_limit_error"),
    500: ("Server Error", "server_error"),
    502: ("Bad Gateway", "server_error"),
    503: ("Server overloaded, please retry shortly", "server_error"),
    504: ("Gateway Timeout", "server_error"),
}


# --------------------------------------------------------------------------------------------------------------
# Deterministic "standardization" of one raw lead (header heuristics)
# --------------------------------------------------------------------------------------------------------------
def _norm_header(header: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", header.lower()).strip()


def _role(header: str) -> str | None:
    header = re.sub(r"\s*\([^()]*\)$", "", header) or header  # "First Name (fld_a1)": a qualified header
    h = _norm_header(header)
    compact = h.replace(" ", "")
    if compact in ("firstname", "first", "givenname", "forename", "vorname", "prenom", "fname"):
        return "first"
    if compact in ("lastname", "last", "surname", "familyname", "nachname", "nom", "lname"):
        return "last"
    if compact in ("name", "fullname", "contact", "contactname", "person", "leadname"):
        return "full"
    if "mail" in compact:
        return "email"
    if any(k in compact for k in ("phone", "tel", "mobile", "cell", "handy")):
        return "phone"
    if any(k in compact for k in ("company", "organisation", "organization", "firma", "employer", "account",
                                  "business", "unternehmen")) or compact == "org":
        return "company"
    if compact in ("title", "jobtitle", "position", "role", "jobrole", "function", "designation", "job"):
        return "title"
    if any(k in compact for k in ("note", "remark", "comment", "bemerkung")):
        return "remarks"
    return None


def _tidy(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _case_name(text: str) -> str:
    text = _tidy(text)
    letters = [c for c in text if c.isalpha()]
    if letters and (all(c.isupper() for c in letters) or all(c.islower() for c in letters)):
        return " ".join("-".join(p[:1].upper() + p[1:].lower() for p in w.split("-")) for w in text.split(" "))
    return text


def _case_text(text: str) -> str:
    text = _tidy(text)
    letters = [c for c in text if c.isalpha()]
    if letters and all(c.isupper() for c in letters) and len(text) > 4:
        return " ".join(w if len(w) <= 3 else w[:1] + w[1:].lower() for w in text.split(" "))
    if letters and all(c.islower() for c in letters):
        return " ".join(w if len(w) <= 2 else w[:1].upper() + w[1:] for w in text.split(" "))
    return text


def _email(text: str) -> str | None:
    match = re.search(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+", text or "")
    return match.group(0).lower() if match else None


def _phone(text: str) -> str | None:
    text = (text or "").strip()
    digits = re.sub(r"\D", "", text)
    if not digits:
        return None
    if text.startswith("+"):
        return "+" + digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    return digits


def standardize_lead(lead: dict[str, Any]) -> dict[str, Any]:
    """The fake's deterministic answer for one request lead ``{"id", <header>: <value>...}``:
    ``{"id", firstName, lastName, title, company, email, phone, remarks}`` (values str or None). Only string
    values are raw cells; anything else (``"_proposal": {...}``) is context and ignored here."""
    out: dict[str, Any] = {"id": lead.get("id")}
    out.update({f: None for f in LEAD_FIELDS})
    remarks: list[str] = []
    for header, value in lead.items():
        if header != "id" and isinstance(value, str) and value.strip():
            _take_cell(out, remarks, header, value)
    out["remarks"] = "; ".join(remarks) or None
    return out


def _split_name(value: str) -> tuple[str | None, str | None]:
    """A full name as ``(first, last)``: ``"Last, First"`` or ``"First Rest"``, each cased (``None`` when empty)."""
    name = _tidy(value)
    if "," in name:
        last, first = (p.strip() for p in name.split(",", 1))
    else:
        first, _, last = name.partition(" ")
    return _case_name(first) or None, _case_name(last) or None


#: Header role -> (field, how its value is cleaned) for the roles whose first non-empty cell fills one field.
_ONE_FIELD_ROLES = {
    "first": ("firstName", _case_name), "last": ("lastName", _case_name), "phone": ("phone", _phone),
    "company": ("company", _case_text), "title": ("title", _case_text),
}


def _take_cell(out: dict[str, Any], remarks: list[str], header: str, value: str) -> None:
    """Put one non-empty cell into ``out`` by its header's role; a cell whose field is already filled, an email that
    is not one, and cells of other headers go to ``remarks`` as ``header: value``."""
    role = _role(header)
    one = _ONE_FIELD_ROLES.get(role)
    if one is not None and not out[one[0]]:
        out[one[0]] = one[1](value)
    elif role == "full" and not (out["firstName"] or out["lastName"]):
        out["firstName"], out["lastName"] = _split_name(value)
    elif role == "email" and not out["email"]:
        out["email"] = _email(value)
        if not out["email"]:
            remarks.append(f"{header}: {value}")
    elif role == "remarks":
        remarks.append(_tidy(value))
    else:
        remarks.append(f"{header}: {_tidy(value)}")


def answer_item(lead: dict[str, Any], shape: str = "corrections") -> dict[str, Any]:
    """The fake's answer item for one request lead in the given shape (module docstring, "Answer shape").

    ``"full"``: :func:`standardize_lead`. ``"corrections"``: the id plus only the fields whose value differs from the
    lead's ``"_proposal"`` (a field missing from the proposal counts as null; remarks holding the same pieces in
    another order agree); without a proposal dict, the full item.

    Raises:
        ValueError: unknown ``shape``.
    """
    if shape not in ANSWER_SHAPES:
        raise ValueError(f"unknown answer shape {shape!r} (one of {', '.join(ANSWER_SHAPES)})")
    full = standardize_lead(lead)
    proposal = lead.get("_proposal")
    if shape == "full" or not isinstance(proposal, dict):
        return full
    return {"id": full["id"], **{f: full[f] for f in LEAD_FIELDS if not _agrees(f, full[f], proposal.get(f))}}


def _agrees(field: str, mine: Any, proposed: Any) -> bool:
    """Whether the fake accepts the proposed value: equal, or (remarks) the same ``"; "`` pieces in another order
    (a model asked for corrections does not rewrite remarks only to reorder them)."""
    if mine == proposed:
        return True
    if field == "remarks" and isinstance(mine, str) and isinstance(proposed, str):
        return sorted(p.strip() for p in mine.split(";")) == sorted(p.strip() for p in proposed.split(";"))
    return False


# --------------------------------------------------------------------------------------------------------------
# Header-mapping requests (deepseek/header_map.py): {"headers": [...], "columns": [{"header", "examples"}]}
# --------------------------------------------------------------------------------------------------------------
_LEGAL_FORM = re.compile(r"\b(?:ag|gmbh|kg|inc|llc|ltd|plc|corp|sa|sarl|srl|bv|nv|group)\b\.?", re.IGNORECASE)


def is_header_request(doc: Any) -> bool:
    """True for a header-mapping user message: ``{"headers": [str...], "columns": [{"header": str, ...}...]}``."""
    return (isinstance(doc, dict) and isinstance(doc.get("headers"), list) and isinstance(doc.get("columns"), list)
            and all(isinstance(c, dict) and isinstance(c.get("header"), str) for c in doc["columns"]))


def _example_role(examples: list[str]) -> str:
    """The fake's reading of a column from its example cells (a model would read the header too)."""
    cells = [e.strip() for e in examples if isinstance(e, str) and e.strip()]
    if not cells:
        return "ignore"
    if all(_email(c) == c.lower() for c in cells):
        return "email"
    if all(re.fullmatch(r"\+?[\d\s\-./()]{7,22}", c) for c in cells):
        return "phone"
    if all(_LEGAL_FORM.search(c) for c in cells):
        return "company"
    if all(re.fullmatch(r"[^\W\d_]+(?:[ '\-][^\W\d_]+)*", c) for c in cells):
        return "fullName" if all(" " in c for c in cells) else "name"
    return "remarks"


def header_answer(body: Any) -> str | None:
    """The fake's answer content to a header-mapping request, ``{"columns": {header: role}}`` (single-word name
    columns: the first is ``firstName``, the next ``lastName``), or ``None`` when ``body`` is no such request."""
    try:
        users = [m for m in body["messages"] if m.get("role") == "user"]
        doc = json.loads(users[-1]["content"])
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):
        return None
    if not is_header_request(doc):
        return None
    mapping: dict[str, str] = {}
    names = 0
    for column in doc["columns"]:
        role = _example_role(column.get("examples") or [])
        if role == "name":
            role = ("firstName", "lastName")[min(names, 1)]
            names += 1
        mapping[column["header"]] = role
    return json.dumps({"columns": mapping}, ensure_ascii=False)


def _approx_tokens(text: str) -> int:
    return max(1, (len(text) + 3) // 4)


# --------------------------------------------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------------------------------------------
class _ClientError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param = status, message, param


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    fake: "FakeDeepSeek"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    #: TCP_NODELAY: headers and body are two writes; with Nagle the body waits for the client's delayed ACK of the
    #: headers (~40 ms on loopback), which made every answer ~40 ms later than ``latency``
    disable_nagle_algorithm = True
    timeout = 60  # seconds an idle keep-alive connection may hold a handler thread
    server: _Server

    _counted = False  # this chat request is counted in the fake's in_flight

    def send_response(self, code: int, message: str | None = None) -> None:
        """The answer starts to leave: the request stops counting as in flight first."""
        self._depart()
        super().send_response(code, message)

    def _depart(self) -> None:
        if self._counted:
            self._counted = False
            self.server.fake._leave()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep the test output quiet
        if self.server.fake.verbose:
            sys.stderr.write("fake_deepseek: " + (format % args) + "\n")

    # -- plumbing ---------------------------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _send_error_body(self, status: int, message: str | None, headers: dict[str, str] | None = None,
                         param: str | None = None) -> None:
        default_msg, err_type = _STATUS_TEXT.get(status, ("Error", "server_error" if status >= 500 else
                                                           "invalid_request_error"))
        self._send_json(status, {"error": {"message": message or default_msg, "type": err_type, "param": param,
                                           "code": "invalid_request_error" if status < 500 else None}}, headers)

    # -- routes -----------------------------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802
        fake = self.server.fake
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/_stats":
            self._send_json(200, fake.stats())
        elif path in ("/models", "/v1/models"):
            self._send_json(200, {"object": "list", "data": [
                {"id": m, "object": "model", "owned_by": "deepseek"} for m in MODELS]})
        else:
            self._send_error_body(404, "Not Found")

    def do_POST(self) -> None:  # noqa: N802
        fake = self.server.fake
        path = self.path.split("?", 1)[0].rstrip("/")
        raw = self._read_body()
        if path == "/_reset":
            fake.reset()
            self._send_json(200, fake.stats())
            return
        if path == "/_script":
            try:
                actions = json.loads(raw or b"[]")
                fake.script(actions if isinstance(actions, list) else [actions])
            except ValueError as exc:
                self._send_error_body(400, f"bad script: {exc}")
                return
            self._send_json(200, fake.stats())
            return
        if path == "/_default":
            try:
                fake.default_action = dict(json.loads(raw or b"{}"))
            except (ValueError, TypeError) as exc:
                self._send_error_body(400, f"bad default: {exc}")
                return
            self._send_json(200, fake.stats())
            return
        if path not in ("/chat/completions", "/v1/chat/completions"):
            self._send_error_body(404, "Not Found")
            return
        fake._enter()
        self._counted = True
        try:
            self._chat(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            self._depart()

    # -- chat completions -------------------------------------------------------------------------------------
    def _chat(self, raw: bytes) -> None:
        fake = self.server.fake
        arrived = time.monotonic()
        try:
            body: Any = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            body = None
        fake._record(body, dict(self.headers.items()))
        action = fake._next_action()

        latency = float(action.get("latency", fake.latency) or 0)
        if action.get("disconnect"):
            _sleep(latency)
            self._depart()
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.close_connection = True
            return

        # Real validation first: a bad key or a bad request is answered before any scripted trouble.
        try:
            leads, prompt_text, system_text = self._validate(body)
        except _ClientError as exc:
            _sleep(latency)
            self._send_error_body(exc.status, exc.message, param=exc.param)
            return

        status = int(action.get("status", 200))
        headers = {str(k): str(v) for k, v in (action.get("headers") or {}).items()}
        if status != 200:
            _sleep(latency)
            error = action.get("error")
            self._send_error_body(status, self._reflect(error) if error else None, headers)
            return

        completion_tokens = 0
        if "raw_body" in action:
            payload = self._reflect(str(action["raw_body"])).encode("utf-8")
        else:
            completion = self._completion(body, leads, prompt_text, system_text, action)
            completion_tokens = int(completion["usage"].get("completion_tokens") or 0)
            payload = json.dumps(completion, ensure_ascii=False).encode("utf-8")
        tps = action.get("tokens_per_second", fake.tokens_per_second)
        _sleep(arrived + latency + (completion_tokens / float(tps) if tps else 0.0) - time.monotonic())
        keepalive = action.get("keepalive")
        if keepalive:
            self._send_streamed(payload, int(keepalive.get("lines", 3)), float(keepalive.get("interval", 0.05)),
                                headers)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    def _send_streamed(self, payload: bytes, lines: int, interval: float, headers: dict[str, str]) -> None:
        """200 headers now, then blank keep-alive lines, then the body (chunked transfer encoding)."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.flush()

        def chunk(data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        for _ in range(lines):
            chunk(b"\n")
            time.sleep(interval)
        if payload:
            chunk(payload)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _reflect(self, text: str) -> str:
        """``text`` with ``$AUTHORIZATION`` replaced by the request's ``Authorization`` header (JSON-escaped, so it
        also fits inside JSON text)."""
        auth = json.dumps(self.headers.get("Authorization") or "")[1:-1]
        return text.replace("$AUTHORIZATION", auth)

    def _validate(self, body: Any) -> tuple[list[Any], str, str]:
        """``(the request's leads or None for a question, all message text, system text)`` of a valid chat request;
        :class:`_ClientError` with DeepSeek's status and message for the first rule it breaks (auth, body, model,
        messages, the JSON document, response format, sampling options)."""
        _check_auth(self.headers.get("Authorization") or "", self.server.fake.api_key)
        if not isinstance(body, dict):
            raise _ClientError(400, "Failed to deserialize the JSON body into the target type")
        if body.get("model") not in MODELS:
            raise _ClientError(400, "Model Not Exist", "model")
        messages = body.get("messages")
        _check_messages(messages)
        doc, question = _request_doc(messages)
        all_text = "".join(m["content"] for m in messages)
        _check_json_mode(body, all_text)
        _check_sampling(body)
        system_text = "".join(m["content"] for m in messages if m["role"] == "system")
        return (None if question else doc["leads"]), all_text, system_text

    def _completion(self, body: dict[str, Any], leads: list[Any] | None, prompt_text: str, system_text: str,
                    action: dict[str, Any]) -> dict[str, Any]:
        fake = self.server.fake
        content, finish_reason = _content(fake, action, leads, body)
        finish_reason = action.get("finish_reason", finish_reason)
        if isinstance(content, str):
            content = self._reflect(content)

        system_tokens = _approx_tokens(system_text) if system_text else 0
        prompt_tokens = _approx_tokens(prompt_text)
        digest = hashlib.sha256(system_text.encode("utf-8")).hexdigest()
        hit = fake._cache_hit(digest, min(system_tokens, prompt_tokens))
        completion_tokens = _approx_tokens(content) if isinstance(content, str) else 1
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_cache_hit_tokens": hit,
            "prompt_cache_miss_tokens": prompt_tokens - hit,
        }
        usage.update(action.get("usage") or {})
        return {
            "id": f"fake-{fake.request_count}-{int(time.time() * 1000)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "logprobs": None,
                "finish_reason": finish_reason,
            }],
            "usage": usage,
            "system_fingerprint": "fp_fake",
        }


def _content(fake: "FakeDeepSeek", action: dict[str, Any], leads: list[Any] | None,
             body: dict[str, Any]) -> tuple[str | None, str]:
    """``(message content, finish_reason)`` the action asks for: its literal ``content`` or ``leads``, the mapping of
    a header-mapping request, the SQL of a question (``leads`` None), else the fake's answer items after the
    action's transforms."""
    if "content" in action:
        return action["content"], "stop"
    if "leads" in action:
        return json.dumps({"leads": action["leads"]}, ensure_ascii=False), "stop"
    if leads is None and (mapping := header_answer(body)) is not None:  # a header-mapping request
        return mapping, "stop"
    if leads is None:  # an ``easycrm ask`` question: a plain count unless the script says otherwise
        return json.dumps({"refusal": "echo: $AUTHORIZATION"} if action.get("echo") else {"sql": QUESTION_SQL}), "stop"
    shape = action.get("answer", fake.answer)
    items = [answer_item(lead, shape) if isinstance(lead, dict) else {"id": None} for lead in leads]
    if action.get("echo"):
        items = [{**item, "remarks": "echo: $AUTHORIZATION"} for item in items]
    transforms = action.get("transform") or []
    transforms = [transforms] if isinstance(transforms, str) else list(transforms)
    if fake.cut_above is not None and len(leads) > fake.cut_above and "truncate" not in transforms:
        transforms.append("truncate")
    return _apply_transforms(items, transforms)


def _check_auth(auth: str, api_key: str | None) -> None:
    """A ``Bearer`` key must be given, and be ``api_key`` when the fake has one (else 401)."""
    if not auth.startswith("Bearer ") or not auth[7:].strip():
        raise _ClientError(401, "Authentication Fails (no api key provided)")
    if api_key is not None and auth[7:].strip() != api_key:
        raise _ClientError(401, "Authentication Fails, Your api key: ****" + auth[-4:] + " is invalid")


def _check_messages(messages: Any) -> None:
    """A non-empty list of ``{role, content}`` with a user message (else 400)."""
    if not isinstance(messages, list) or not messages or not all(
            isinstance(m, dict) and m.get("role") in ("system", "user", "assistant") and
            isinstance(m.get("content"), str) for m in messages):
        raise _ClientError(400, "messages must be a non-empty list of {role, content}", "messages")
    if not any(m["role"] == "user" for m in messages):
        raise _ClientError(400, "messages need a user message", "messages")


def _request_doc(messages: list[dict[str, Any]]) -> tuple[Any, bool]:
    """``(the last user message as JSON, whether it is a question)``: ``{"leads": [...]}`` or ``{"question": "..."}``
    (else 400)."""
    users = [m for m in messages if m["role"] == "user"]
    try:
        doc = json.loads(users[-1]["content"])
    except ValueError:
        raise _ClientError(400, "fake: the last user message must be a JSON document", "messages") from None
    question = isinstance(doc, dict) and "leads" not in doc and (
        isinstance(doc.get("question"), str) or is_header_request(doc))
    if not question and (not isinstance(doc, dict) or not isinstance(doc.get("leads"), list)):
        raise _ClientError(400, 'fake: the last user message must be {"leads": [...]} or {"question": "..."}',
                           "messages")
    return doc, question


def _check_json_mode(body: dict[str, Any], all_text: str) -> None:
    """JSON mode: ``response_format`` ``{"type": "json_object"}`` and the word "json" in the prompt (else 400)."""
    if body.get("response_format") != {"type": "json_object"}:
        raise _ClientError(400, 'fake: response_format must be {"type": "json_object"}', "response_format")
    if "json" not in all_text.lower():
        raise _ClientError(400, "Prompt must contain the word 'json' in some form to use 'response_format' of "
                                "type 'json_object'.", "messages")


def _check_sampling(body: dict[str, Any]) -> None:
    """``max_tokens`` 1-384,000, ``temperature`` 0-2, ``thinking`` ``{"type": "enabled"|"disabled"}`` when given
    (else 422)."""
    max_tokens = body.get("max_tokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool)
                                   or not 1 <= max_tokens <= 384_000):
        raise _ClientError(422, "Invalid max_tokens value, the valid range of max_tokens is [1, 384000]",
                           "max_tokens")
    temperature = body.get("temperature")
    if temperature is not None and (not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2):
        raise _ClientError(422, "Invalid temperature value, the valid range is [0, 2]", "temperature")
    thinking = body.get("thinking")
    if thinking is not None and (not isinstance(thinking, dict)
                                 or thinking.get("type") not in ("enabled", "disabled")):
        raise _ClientError(422, "Invalid thinking value", "thinking")


def _sleep(seconds: float) -> None:
    if seconds > 0:
        time.sleep(seconds)


def _apply_transforms(items: list[dict[str, Any]], transforms: list[str]) -> tuple[str | None, str]:
    """Default answer items -> (content, finish_reason) after the named distortions."""
    items = copy.deepcopy(items)
    wrap: str | None = None
    for t in transforms:
        min_items, change = _ITEM_TRANSFORMS.get(t, (0, None))
        if change is not None and len(items) >= min_items:
            items = change(items)
        elif t.startswith("missing:"):
            gone = {s.strip() for s in t.split(":", 1)[1].split(",") if s.strip()}
            items = [it for it in items if str(it.get("id")) not in gone]
        elif t in _WRAPS:
            wrap = t
        else:
            raise ValueError(f"unknown transform {t!r}")
    content: str | None = json.dumps({"leads": items}, ensure_ascii=False)
    if wrap is None:
        return content, "stop"
    return _WRAPS[wrap](content), "length" if wrap == "truncate" else "stop"


def _extra_id(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    extra = dict(items[0]) if items else {f: None for f in LEAD_FIELDS}
    extra["id"] = "invented:999"
    return [*items, extra]


def _merge_first_two(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The second item folded into the first: remarks/email/phone joined with ``"; "``, other blanks filled."""
    first, second = items[0], items.pop(1)
    for f in LEAD_FIELDS:
        if first.get(f) and second.get(f) and f in ("remarks", "email", "phone"):
            first[f] = f"{first[f]}; {second[f]}"
        elif not first.get(f):
            first[f] = second.get(f)
    return items


def _without_id(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    items[0]["id"] = None
    return items


#: Transform name -> (the fewest items it applies to, the change of the item list). With fewer items the name is
#: refused as unknown.
_ITEM_TRANSFORMS = {
    "reverse": (0, lambda items: items[::-1]),
    "drop_id": (1, _without_id),
    "extra_id": (0, _extra_id),
    "merge": (2, _merge_first_two),
    "duplicate": (1, lambda items: [items[0], dict(items[0]), *items[1:]]),
    "missing_first": (1, lambda items: items[1:]),
    "row_id": (0, lambda items: [{("row_id" if k == "id" else k): v for k, v in it.items()} for it in items]),
}
#: Wrap name -> the content it makes of the answer JSON (``truncate`` also ends with ``finish_reason: "length"``).
_WRAPS = {
    "fenced": lambda c: f"```json\n{c}\n```",
    "fenced_plain": lambda c: f"```\n{c}\n```",
    "prose": lambda c: f"Here are the standardized leads:\n\n{c}\n\nLet me know if you need more.",
    "blank": lambda c: "",
    "spaces": lambda c: "      \n   ",
    "null": lambda c: None,
    "truncate": lambda c: c[: max(10, int(len(c) * 0.6))],
}


class FakeDeepSeek:
    """A fake DeepSeek server on ``host:port`` (port 0 = any free port), serving in a background thread.

    Args:
        latency: fixed seconds every chat request waits before answering (default 0).
        tokens_per_second: output speed; an answer of N completion tokens waits ``latency + N / tokens_per_second``
            seconds (default None: no token part, the answer waits ``latency`` only).
        answer: answer shape, ``"corrections"`` (default: only the fields differing from the request's
            ``_proposal``) or ``"full"`` (all seven fields).
        api_key: when set, only ``Bearer <api_key>`` is accepted (else 401); when None any non-blank key passes.
        cut_above: when set, requests with more than this many leads get cut JSON (``finish_reason: "length"``).
        host / port: where to listen (default ``127.0.0.1:0``).
        default_action: action applied when the script is empty (see module docstring); default ``{}``.
        verbose: log each HTTP request to stderr.

    Attributes (thread-safe reads): ``base_url``, ``port``, ``requests`` (list of request bodies, ``None`` for
    non-JSON), ``request_headers``, ``request_count``, ``in_flight``, ``peak_in_flight``.
    """

    def __init__(self, latency: float = 0.0, *, tokens_per_second: float | None = None, answer: str = "corrections",
                 api_key: str | None = None, cut_above: int | None = None, host: str = "127.0.0.1", port: int = 0,
                 default_action: dict[str, Any] | None = None, verbose: bool = False) -> None:
        if answer not in ANSWER_SHAPES:
            raise ValueError(f"unknown answer shape {answer!r} (one of {', '.join(ANSWER_SHAPES)})")
        if tokens_per_second is not None and tokens_per_second <= 0:
            raise ValueError("tokens_per_second must be positive")
        self.latency = latency
        self.tokens_per_second = tokens_per_second
        self.answer = answer
        self.api_key = api_key
        self.cut_above = cut_above
        self.default_action: dict[str, Any] = dict(default_action or {})
        self.verbose = verbose
        self._host, self._port = host, port
        self._lock = threading.Lock()
        self._script: list[dict[str, Any]] = []
        self._seen_prefixes: set[str] = set()
        self.requests: list[Any] = []
        self.request_headers: list[dict[str, str]] = []
        self.request_count = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifetime ---------------------------------------------------------------------------------------------
    def start(self) -> "FakeDeepSeek":
        """Bind and serve in a daemon thread. Returns self."""
        server = _Server((self._host, self._port), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-deepseek", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "FakeDeepSeek":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound TCP port."""
        assert self._server is not None, "server not started"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (use as ``DEEPSEEK_BASE_URL``)."""
        return f"http://{self._host}:{self.port}"

    # -- control ----------------------------------------------------------------------------------------------
    def script(self, actions: list[dict[str, Any]]) -> None:
        """Append actions to the FIFO script; each chat request consumes one (then the default action applies)."""
        with self._lock:
            self._script.extend(dict(a) for a in actions)

    def reset(self) -> None:
        """Forget recorded requests, counters, the script and the prompt cache (``in_flight`` is kept)."""
        with self._lock:
            self._script.clear()
            self.requests.clear()
            self.request_headers.clear()
            self._seen_prefixes.clear()
            self.request_count = 0
            self.peak_in_flight = self.in_flight

    def stats(self) -> dict[str, int]:
        """``{"peak_in_flight", "in_flight", "request_count", "script_left"}``."""
        with self._lock:
            return {"peak_in_flight": self.peak_in_flight, "in_flight": self.in_flight,
                    "request_count": self.request_count, "script_left": len(self._script)}

    def request_leads(self, index: int = -1) -> list[dict[str, Any]]:
        """The ``leads`` list of a recorded request's last user message (default: the latest request)."""
        body = self.requests[index]
        users = [m for m in body["messages"] if m.get("role") == "user"]
        return json.loads(users[-1]["content"])["leads"]

    def request_ids(self) -> list[list[str]]:
        """The lead ids of every recorded request, in order."""
        out = []
        for i in range(len(self.requests)):
            try:
                out.append([lead.get("id") for lead in self.request_leads(i)])
            except (KeyError, TypeError, ValueError, IndexError):
                out.append([])
        return out

    # -- internal (called from handler threads) ---------------------------------------------------------------
    def _enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.request_count += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _record(self, body: Any, headers: dict[str, str]) -> None:
        with self._lock:
            self.requests.append(body)
            self.request_headers.append(headers)

    def _next_action(self) -> dict[str, Any]:
        with self._lock:
            if self._script:
                return self._script.pop(0)
            return dict(self.default_action)

    def _cache_hit(self, digest: str, tokens: int) -> int:
        """Prompt-cache model: the system prompt is a cache hit from its second use on."""
        with self._lock:
            if digest in self._seen_prefixes:
                return tokens
            self._seen_prefixes.add(digest)
            return 0


# --------------------------------------------------------------------------------------------------------------
# Standalone process
# --------------------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """``python -m easycrm_pipeline.testing.fake_deepseek [--port 0] [--latency S] [--port-file PATH] ...``"""
    parser = argparse.ArgumentParser(description="Fake DeepSeek chat-completions server (for tests/benchmarks)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = any free port (see --port-file)")
    parser.add_argument("--latency", type=float, default=0.0, help="fixed seconds before each chat answer")
    parser.add_argument("--tokens-per-second", type=float, default=None,
                        help="output speed: an answer waits latency + completion tokens / this (default: no token part)")
    parser.add_argument("--answer", choices=ANSWER_SHAPES, default="corrections",
                        help="corrections: only fields differing from the request's _proposal (default); full: all 7")
    parser.add_argument("--port-file", help="write the bound port here (atomically) once listening")
    parser.add_argument("--api-key", help="accept only this key (default: any non-blank key)")
    parser.add_argument("--cut-above", type=int, help="cut JSON (finish_reason length) above this many leads")
    parser.add_argument("--default", help="JSON default action, e.g. '{\"transform\": \"fenced\"}'")
    parser.add_argument("--script", help="JSON list of actions to queue at start")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)

    if args.tokens_per_second is not None and args.tokens_per_second <= 0:
        parser.error("--tokens-per-second must be positive")
    fake = FakeDeepSeek(latency=args.latency, tokens_per_second=args.tokens_per_second, answer=args.answer,
                        api_key=args.api_key, cut_above=args.cut_above, host=args.host,
                        port=args.port, default_action=json.loads(args.default) if args.default else None,
                        verbose=args.verbose)
    if args.script:
        fake.script(json.loads(args.script))
    fake.start()
    stop = threading.Event()

    def _stop(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if args.port_file:
        tmp = f"{args.port_file}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(f"{fake.port}\n")
        os.replace(tmp, args.port_file)
    print(f"FAKE_DEEPSEEK_URL={fake.base_url}", flush=True)
    print(f"FAKE_DEEPSEEK_PORT={fake.port}", flush=True)
    try:
        while not stop.wait(0.2):
            pass
    finally:
        fake.stop()
    return 0


def wait_for_port_file(path: str, timeout: float = 10.0) -> int:
    """Block until a standalone fake wrote its port to ``path``; return the port. Raises TimeoutError."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read().strip()
            if text:
                return int(text)
        except (FileNotFoundError, ValueError):
            pass
        time.sleep(0.05)
    raise TimeoutError(f"no port in {path} after {timeout} s")


__all__: list[str] = ["ANSWER_SHAPES", "FakeDeepSeek", "MODELS", "answer_item", "header_answer",
                      "is_header_request", "main", "standardize_lead", "wait_for_port_file"]

if __name__ == "__main__":
    raise SystemExit(main())
