"""The quality report's counts straight from the store (the Dagster asset is tested in dagster_defs)."""
from __future__ import annotations

import pytest

from easycrm_pipeline.readers.quality import chart_markdown, quality_report, reason_key, render_chart_png
from easycrm_tests.readers.seed import env_store, seed


def test_counts_of_the_seeded_store():
    store = env_store()
    seed(store)
    report = quality_report(store)
    assert report.to_dict() == {
        "total_leads": 7,
        "leads_by_source": {"crm_a.csv": 5, "crm_b.xlsx": 2},
        "with_valid_email": 6,
        "with_valid_phone": 2,
        "with_name": 6,
        "duplicates_resolved": 1,
        "quarantined": 3,
        "quarantine_by_reason": {"footer": 2, "no lead fields": 1},
        "valid_email_share": 0.8571,
        "valid_phone_share": 0.2857,
        "named_share": 0.8571,
    }


def test_empty_store():
    report = quality_report(env_store())
    assert (report.total_leads, report.valid_email_share, report.leads_by_source, report.quarantine_by_reason) == (
        0, 0.0, {}, {})


def test_reason_key():
    assert reason_key("footer: Total 12") == "footer"
    assert reason_key("DeepSeek failed after 3 tries: HTTP 503") == "DeepSeek failed after 3 tries"
    assert reason_key("no lead fields") == "no lead fields"


def test_chart_is_a_png_data_uri():
    pytest.importorskip("matplotlib")
    store = env_store()
    seed(store)
    png = render_chart_png(quality_report(store))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert chart_markdown(png, "q").startswith("![q](data:image/png;base64,iVBORw0KGgo")
