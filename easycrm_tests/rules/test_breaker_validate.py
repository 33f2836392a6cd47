"""Breaker case on the DeepSeek answer validator: issue 15's "companies keep the case they were given" holds for the
offline rules only; a re-cased company from DeepSeek (the bundled fake does it: ACME-X -> Acme-x) is accepted."""
from __future__ import annotations

import pytest

from easycrm_pipeline.models import RawRow
from easycrm_pipeline.rules.validate import validate_candidate


@pytest.mark.parametrize(("given", "answered"), [("IKEA", "Ikea"), ("ACME-X", "Acme-x"), ("BMW AG", "Bmw Ag")])
def test_breaker_deepseek_cannot_recase_a_company(given, answered):
    row = RawRow("0:2", None, 2, (("Email", "a@example.com"), ("First Name", "Ann"), ("Company", given)))
    lead = validate_candidate(row, {"id": "0:2", "company": answered})
    assert lead.fields["company"] == given
