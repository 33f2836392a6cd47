"""Fakes of external services for tests and benchmarks (stdlib only, no project imports)."""
from easycrm_tests.fakes.fake_deepseek import FakeDeepSeek, standardize_lead, wait_for_port_file

__all__ = ["FakeDeepSeek", "standardize_lead", "wait_for_port_file"]
