"""Fakes of outside services for tests, benchmarks and demos, importable from an install (stdlib only).

``easycrm_pipeline.testing.fake_deepseek`` is a fake DeepSeek chat-completions server
(``python -m easycrm_pipeline.testing.fake_deepseek --port 0 --latency 2.0``). Nothing of the product imports this
package. Names are loaded lazily so that ``python -m easycrm_pipeline.testing.fake_deepseek`` runs without runpy's
"found in sys.modules" warning.
"""
from __future__ import annotations

from typing import Any

__all__ = ["FakeDeepSeek", "standardize_lead", "wait_for_port_file"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from easycrm_pipeline.testing import fake_deepseek

        return getattr(fake_deepseek, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
