"""Breaker case on phones: the README (and the replaced system) say a number without ``+``/``00`` has 7-15 digits;
16 and 17 digits (a payment card number's length) are stored as the phone."""
from __future__ import annotations

import pytest

from easycrm_pipeline.rules.phones import normalize_phone


@pytest.mark.parametrize("value", ["4111 1111 1111 1111", "1234567890123456", "12345678901234567"])
def test_breaker_more_than_15_digits_is_no_phone(value):
    assert normalize_phone(value).phone is None
