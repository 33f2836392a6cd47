"""Merge rules: KEEP's values stay, its blanks are filled from OTHER, OTHER's remarks and email go to the remarks."""
from easycrm_pipeline.matching.merge import OTHER_EMAIL_REMARK, MergeResult, changed_fields, merged_fields


def test_docstring_example():
    keep = {"firstName": "Anna", "phone": None, "email": "anna@acme.de", "remarks": None}
    other = {"firstName": "Ana", "phone": "+4930123456", "email": "a@gmail.com", "remarks": "met at fair"}
    out = merged_fields(keep, other)
    assert out["firstName"] == "Anna" and out["phone"] == "+4930123456" and out["email"] == "anna@acme.de"
    assert out["remarks"] == f"met at fair; {OTHER_EMAIL_REMARK}a@gmail.com"
    assert out["lastName"] is None and set(out) == {"firstName", "lastName", "title", "company", "email", "phone",
                                                    "remarks"}


def test_blank_email_is_filled_and_remarks_are_not_repeated():
    keep = {"email": None, "remarks": "VIP; met at fair", "title": "  "}
    other = {"email": "a@gmail.com", "remarks": "met at fair", "title": "CEO"}
    out = merged_fields(keep, other)
    assert out["email"] == "a@gmail.com" and out["remarks"] == "VIP; met at fair" and out["title"] == "CEO"
    # merging again changes nothing
    assert merged_fields(out, other) == out
    assert changed_fields(keep, out) == {"title": {"before": "  ", "after": "CEO"},
                                         "email": {"before": None, "after": "a@gmail.com"}}


def test_result_document():
    r = MergeResult(keep="k", other="o", merge_id="m", lead={}, changed={}, conflicts=[{"leadId": "k"}] * 2)
    assert r.to_dict() == {"keep": "k", "other": "o", "mergeId": "m", "lead": {}, "changed": {}, "dryRun": False,
                           "undone": False, "conflictsOverridden": 1}
