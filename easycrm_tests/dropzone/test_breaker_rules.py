"""Breaker case on the drop-zone rules: the README's reading table lists ``.ods`` (and ``read_file`` reads it through
calamine), but a ``.ods`` dropped into the inbox or the bucket is ignored as "not a lead file extension"."""
from __future__ import annotations


from easycrm_pipeline.dropzone.rules import is_lead_file


def test_breaker_ods_drop_is_a_lead_file():
    assert is_lead_file("leads.ods", 4096) == (True, None)
    assert is_lead_file("uploads/Q3 contacts.ODS", 4096) == (True, None)
