"""merge_in_file: last non-empty value wins, remarks combined, order by first occurrence."""
from __future__ import annotations

from easycrm_pipeline.models import StandardLead
from easycrm_pipeline.rules import DuplicateResolution, merge_in_file

from .helpers import all_fields


def _lead(row_id, email, first=None, phone=None, remarks=None, provided=("email",), flags=(), sheet=None):
    fields = {"firstName": first, "lastName": None, "title": None, "company": None, "email": email,
              "phone": phone, "remarks": remarks}
    return StandardLead(row_id, sheet, int(row_id.split(":")[1]), fields, frozenset(provided), {"r": row_id},
                        "rules-1", tuple(flags))


def test_merge_last_non_empty_wins_and_remarks_combined():
    leads = [
        _lead("0:2", "a@example.com", first="Ann", phone="+1", remarks="warm; booth", provided=("email", "phone")),
        _lead("0:3", None, first="NoMail"),
        _lead("0:4", "b@example.com", first="Bob"),
        _lead("1:2", "a@example.com", first="Annie", remarks="booth; call back", flags=("x",), sheet="US"),
        _lead("1:3", None, first="NoMail"),
        _lead("1:4", "a@example.com", first="", phone=None, remarks=None, provided=("email", "remarks"),
              flags=("y", "x"), sheet="US"),
    ]
    merged, resolutions = merge_in_file(leads)
    assert [lead.row_id for lead in merged] == ["1:4", "0:3", "0:4", "1:3"]
    a = merged[0]
    assert a.fields == all_fields({"firstName": "Annie", "lastName": None, "title": None, "company": None,
                                   "email": "a@example.com", "phone": "+1", "remarks": "warm; booth; call back"})
    assert (a.sheet, a.row_number, a.raw) == ("US", 4, {"r": "1:4"})
    assert a.provided == frozenset({"email", "phone", "remarks"})
    assert a.flags == ("x", "y")
    assert resolutions == [DuplicateResolution("a@example.com", "1:4", ("0:2", "1:2"))]
    # input leads untouched
    assert leads[0].fields["firstName"] == "Ann"


def test_no_duplicates_is_identity():
    leads = [_lead("0:2", "a@example.com"), _lead("0:3", None), _lead("0:4", None)]
    merged, resolutions = merge_in_file(leads)
    assert merged == leads and resolutions == []
    assert merge_in_file([]) == ([], [])
