"""Reusable pytest fixtures. Import them explicitly in a test module::

    from easycrm_tests.support.fixtures import moto_server  # noqa: F401

(the name must be imported into the module for pytest to find it).
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from easycrm_tests.support.moto_server import apply_fake_aws_env, moto_endpoint


@pytest.fixture
def moto_server(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh moto server on 127.0.0.1 for this test; yields its endpoint URL (``http://127.0.0.1:<port>``).

    While the test runs, ``AWS_ENDPOINT_URL`` points at it and dummy credentials/region (``testing``/``us-east-1``)
    are set, so any plain ``boto3.client("s3")`` / ``"dynamodb"`` — and ``dagster_aws``'s ``S3Resource()`` — talk
    to it.
    Everything is undone and the server stopped afterwards.
    """
    tmp: Path = tmp_path_factory.mktemp("aws")
    with moto_endpoint() as url:
        apply_fake_aws_env(monkeypatch, url, tmp)
        yield url
