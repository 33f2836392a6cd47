"""Shared helpers for the DeepSeek tests: the fake server, a client wired to it with a recorded fake sleep, and the
LLM case fixtures (copied from the shared cases folder into ``cases/``; they name the row key ``row_id``, the wire
contract calls it ``id``)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from easycrm_pipeline.deepseek import DeepSeekClient
from easycrm_pipeline.models import RawRow
from easycrm_pipeline.testing import FakeDeepSeek

CASES = Path(__file__).parent / "cases"
API_KEY = "sk-test-0123456789abcdef-SECRET"


def load_case(prefix: str) -> dict[str, Any]:
    """The fixture whose file name starts with ``prefix`` (e.g. ``"18_"``)."""
    (path,) = sorted(CASES.glob(f"{prefix}*.fixture.json"))
    return json.loads(path.read_text(encoding="utf-8"))


def rows_from_batch(batch: list[dict[str, Any]]) -> list[RawRow]:
    """Fixture ``request_batch`` -> ``RawRow``s (row_id kept, every other key a cell in order)."""
    return [RawRow(row_id=item["row_id"], sheet=None, row_number=i + 2,
                   cells=tuple((h, str(v)) for h, v in item.items() if h != "row_id"))
            for i, item in enumerate(batch)]


def to_wire(item: dict[str, Any]) -> dict[str, Any]:
    """A fixture item with ``row_id`` renamed ``id`` (key order kept)."""
    return {("id" if k == "row_id" else k): v for k, v in item.items()}


def fields_by_id(leads: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Fixture expected leads -> ``{row_id: {7 fields}}`` (the shape of ``BatchAnswer.items``)."""
    return {lead["row_id"]: {k: v for k, v in lead.items() if k != "row_id"} for lead in leads}


class SleepRecorder:
    """Injectable ``sleep``: records the requested waits (seconds) instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def fake():
    with FakeDeepSeek(latency=0.0) as server:
        yield server


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def client(fake, sleeps):
    """A client on the fake: 3 attempts, rng fixed at 0.5 (jitter = half the backoff ceiling), short timeouts."""
    with DeepSeekClient(API_KEY, fake.base_url, "deepseek-v4-flash", connect_timeout=2.0, read_timeout=5.0,
                        total_timeout=10.0, sleep=sleeps, rng=lambda: 0.5) as c:
        yield c
