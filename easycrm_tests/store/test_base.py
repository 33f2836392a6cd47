"""LeadQuery validation, email normalization, UpsertStats shape (store/base.py)."""
import pytest

from easycrm_pipeline.store.base import LeadQuery, UpsertStats, clean_value, normalize_email


def test_leadquery_defaults():
    q = LeadQuery()
    assert (q.sort, q.descending, q.page, q.page_size, q.offset) == ("createdAt", True, 1, 50, 0)


def test_leadquery_offset_and_sort_normalization():
    q = LeadQuery(sort="company", page=3, page_size=20)
    assert q.offset == 40
    assert LeadQuery(sort="CREATEDAT").sort == "createdAt"
    assert LeadQuery(sort="first_name").sort == "firstName"
    assert LeadQuery(sort="source_file").sort == "sourceFile"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"page": 0}, "page must be 1 or more, got 0"),
        ({"page": -2}, "page must be 1 or more"),
        ({"page_size": 0}, "page_size must be between 1 and 100, got 0"),
        ({"page_size": 101}, "page_size must be between 1 and 100, got 101"),
        ({"page": "2"}, "page must be a whole number"),
        ({"page_size": 2.5}, "page_size must be a whole number"),
        ({"sort": "salary"}, "unknown sort field 'salary'; use one of: firstName"),
        ({"sort": ""}, "unknown sort field"),
    ],
)
def test_leadquery_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        LeadQuery(**kwargs)


def test_leadquery_filters_and_terms():
    q = LeadQuery(search="  Ann   ACME ", company=" Acme ", email="", first_name=None)
    assert q.search_terms() == ["ann", "acme"]
    assert q.column_filters() == {"company": "Acme"}


@pytest.mark.parametrize(
    "raw, expected",
    [(" John.Doe@Example.COM ", "john.doe@example.com"), ("", None), ("  N/A ", None), ("NULL", None),
     ("none", None), (None, None)],
)
def test_normalize_email_seeds_rule(raw, expected):
    assert normalize_email(raw) == expected


def test_clean_value():
    assert clean_value("  x ") == "x"
    assert clean_value("   ") is None
    assert clean_value(None) is None


def test_upsert_stats_to_dict_has_seed_names():
    d = UpsertStats(total=10, created=7, updated=3, duplicates_detected=3, processing_ms=12.5).to_dict()
    assert d["total_leads"] == 10 and d["leads_created"] == 7 and d["leads_updated"] == 3
    assert d["duplicates_detected"] == 3 and d["processing_time_ms"] == 12.5
    assert d["unchanged"] == 0 and d["duplicate_detection_time_ms"] == 0.0
