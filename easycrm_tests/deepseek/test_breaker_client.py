"""Breaker case on the DeepSeek client's key scrub: a key with a trailing newline / CR (a ``.env`` file saved with CRLF,
``DEEPSEEK_API_KEY=$'sk-...\\n'``) makes httpx refuse the header, and its error shows the key escaped
(``b'Bearer sk-...\\\\n'``), which the scrub (an exact match of the key) misses: the key reaches stderr, ``--json``,
``easycrm status``, the DuckDB store (failed_batch_errors) and the rejected-rows CSV."""
from __future__ import annotations

import pytest

from easycrm_pipeline.cli.main import main
from easycrm_pipeline.testing import FakeDeepSeek

SECRET = "sk-breaker-0123456789abcdef"


@pytest.mark.parametrize("suffix", ["\n", "\r", " \r\n"])
def test_breaker_key_with_trailing_newline_never_reaches_the_output(isolated_env, monkeypatch, capsys, suffix):
    with FakeDeepSeek(latency=0.0) as fake:
        monkeypatch.setenv("DEEPSEEK_API_KEY", SECRET + suffix)
        monkeypatch.setenv("DEEPSEEK_BASE_URL", fake.base_url)
        main(["ask", "who is Ann?", "--json"])
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err



class _EscapingEndpoint:
    """A loopback chat-completions endpoint whose 200 reply body writes the caller's key with JSON ``\\uXXXX``
    escapes inside a content that is not JSON (a reflecting proxy that escapes non-alphanumerics would do the same)."""

    def __enter__(self):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers.get("content-length", 0)))
                key = self.headers["Authorization"].split(" ", 1)[1]
                esc = "".join(f"\\u{ord(c):04x}" for c in key)
                body = ('{"choices":[{"message":{"content":"' + esc + ' is not json"},"finish_reason":"stop"}],'
                        '"usage":{"prompt_tokens":1,"completion_tokens":1}}').encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_breaker_json_escaped_key_in_a_batch_reply_is_not_stored(isolated_env, monkeypatch, capsys):
    path = isolated_env / "k.csv"
    path.write_text("Email,First Name\na@example.com,Ann\n", encoding="utf-8")
    with _EscapingEndpoint() as endpoint:
        monkeypatch.setenv("DEEPSEEK_API_KEY", SECRET)
        monkeypatch.setenv("DEEPSEEK_BASE_URL", endpoint.base_url)
        main(["ingest", str(path), "--json"])
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err
    assert SECRET.encode() not in (isolated_env / "leads.duckdb").read_bytes()
