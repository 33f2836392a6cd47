"""Fakes of external services for tests and benchmarks (stdlib only, no project imports).

Names are loaded lazily so that ``python -m easycrm_tests.fakes.fake_deepseek`` runs without runpy's
"found in sys.modules" warning.
"""
from __future__ import annotations

from typing import Any

__all__ = ["FakeDeepSeek", "standardize_lead", "wait_for_port_file"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from easycrm_tests.fakes import fake_deepseek

        return getattr(fake_deepseek, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
