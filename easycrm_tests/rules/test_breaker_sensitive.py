"""Breaker case on secret headers: the header patterns are substring matches, so ordinary lead columns are redacted
and their cells lost for good ("Secretary" holds "secret", India's postal "PIN Code" reads as a PIN)."""
from __future__ import annotations

import pytest

from easycrm_pipeline.rules.sensitive import sensitive_header


@pytest.mark.parametrize("header", ["Secretary", "Company Secretary", "PIN Code", "Pincode", "Customer ID Number"])
def test_breaker_ordinary_columns_are_not_secrets(header):
    assert sensitive_header(header) is None
