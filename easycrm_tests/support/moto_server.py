"""moto in SERVER mode on 127.0.0.1: real boto3 calls over HTTP, as against MinIO/AWS, without network access.

Usage outside pytest fixtures::

    with moto_endpoint() as url:            # "http://127.0.0.1:<free port>"
        boto3.client("s3", endpoint_url=url, region_name="us-east-1", ...)

In tests prefer the ``moto_server`` fixture (``easycrm_tests.support.fixtures``), which also sets the AWS environment.
"""
from __future__ import annotations

import logging
import os
import threading
import urllib.request
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

#: Dummy credentials/region written into the environment while a moto server runs.
FAKE_AWS_ENV: dict[str, str] = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
#: Variables that could point boto3 somewhere else (a developer's profile, config file, disabled endpoint override).
_AWS_ENV_TO_CLEAR = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_ROLE_ARN",
                     "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                     "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")


def reset_moto(endpoint_url: str) -> None:
    """Empty every moto backend (``POST /moto-api/reset``).

    moto keeps its state in process-global backends, shared by every moto server (and ``mock_aws``) in the same
    Python process — a new server does not start empty by itself.
    """
    request = urllib.request.Request(f"{endpoint_url}/moto-api/reset", data=b"", method="POST")
    with _NO_PROXY_OPENER.open(request, timeout=10) as response:
        response.read()


_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class _SerializedMotoServer(ThreadedMotoServer):
    """ThreadedMotoServer whose requests are handled one at a time.

    moto's backends are not thread-safe: concurrent DynamoDB transactions, for instance, fail with HTTP 500
    "dictionary changed size during iteration" (botocore retries them) or interleave in ways real DynamoDB never does.
    Serializing requests makes every API call atomic — closer to the real service — at the cost of parallel
    throughput. Overrides moto's private ``_server_entry`` (moto 5.x); ``moto_endpoint`` falls back to the plain
    threaded server if that ever changes.
    """

    def _server_entry(self) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        app = DomainDispatcherApplication(create_backend_app)
        lock = threading.Lock()

        def serialized(environ, start_response):  # type: ignore[no-untyped-def]
            with lock:
                return list(app(environ, start_response))

        self._server = make_server(
            self._ip_address, self._port, serialized, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


def _serialized_server_supported() -> bool:
    try:
        from moto.moto_server.werkzeug_app import (  # noqa: F401
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
    except ImportError:
        return False
    probe = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    return all(hasattr(probe, a) for a in ("_server_entry", "_ip_address", "_port", "_server_ready_event"))


@contextmanager
def moto_endpoint(serialize_requests: bool = True) -> Iterator[str]:
    """Start a moto server (all services) on a free loopback port, emptied on entry and exit; yield its URL; stop it.

    The OS picks the port (port 0), so parallel test processes never collide. The server runs in a daemon thread;
    werkzeug's one-line-per-request access log is silenced while it runs (thousands of uploads in some tests).
    Because moto's state is process-global (see :func:`reset_moto`), don't run two of these at once in one process.

    Args:
        serialize_requests: handle one request at a time (default; see :class:`_SerializedMotoServer`). False: moto's
            own fully threaded server (concurrent requests may race inside moto).
    """
    access_log = logging.getLogger("werkzeug")
    old_level = access_log.level
    access_log.setLevel(logging.ERROR)
    server_cls = (
        _SerializedMotoServer if serialize_requests and _serialized_server_supported() else ThreadedMotoServer
    )
    server = server_cls(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        reset_moto(url)
        yield url
        reset_moto(url)
    finally:
        server.stop()
        access_log.setLevel(old_level)


def apply_fake_aws_env(env: MutableMapping[str, str] | pytest.MonkeyPatch, endpoint_url: str, tmp_dir: Path) -> None:
    """Point boto3 at ``endpoint_url`` with dummy credentials.

    Sets :data:`FAKE_AWS_ENV` and ``AWS_ENDPOINT_URL``; points ``AWS_CONFIG_FILE``/``AWS_SHARED_CREDENTIALS_FILE`` at
    empty files under ``tmp_dir`` and removes profile/role variables so a developer's ``~/.aws`` can't interfere;
    adds the loopback host to ``NO_PROXY``. ``env`` is a ``pytest.MonkeyPatch`` (undone after the test) or a plain
    mapping such as ``os.environ`` (caller restores it).
    """
    config = tmp_dir / "aws_config"
    creds = tmp_dir / "aws_credentials"
    config.write_text("")
    creds.write_text("")
    values = dict(FAKE_AWS_ENV, AWS_ENDPOINT_URL=endpoint_url, AWS_CONFIG_FILE=str(config),
                  AWS_SHARED_CREDENTIALS_FILE=str(creds))
    no_proxy = ",".join(p for p in (os.environ.get("NO_PROXY", ""), "127.0.0.1", "localhost") if p)
    values["NO_PROXY"] = values["no_proxy"] = no_proxy
    if isinstance(env, pytest.MonkeyPatch):
        for name in _AWS_ENV_TO_CLEAR:
            env.delenv(name, raising=False)
        for name, value in values.items():
            env.setenv(name, value)
    else:
        for name in _AWS_ENV_TO_CLEAR:
            env.pop(name, None)
        env.update(values)
