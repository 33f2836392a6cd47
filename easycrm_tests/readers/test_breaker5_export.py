"""Breaker 5: ``export_leads(store, "-")`` (``easycrm export -``) writes to standard output."""
from __future__ import annotations

import io
import sys

import pytest

from easycrm_pipeline.readers.export import export_leads
from easycrm_tests.readers.seed import env_store
from easycrm_tests.store.helpers import lead


def test_export_to_stdout_is_utf8_whatever_the_locale(monkeypatch):
    """``export_leads`` says ``-`` writes "UTF-8, no BOM", but it hands ``sys.stdout`` (a text stream in the
    locale's encoding) to the CSV writer: under a latin-1 / cp1252 locale (an old server's ``de_DE.ISO-8859-15``,
    Windows' ``easycrm export - > leads.csv``) a Japanese lead raises ``UnicodeEncodeError: 'charmap' codec can't
    encode characters`` after the rows before it were written, and ``Müller`` comes out as cp1252 bytes."""
    store = env_store()
    store.upsert_file([lead(2, firstName="Jörg", lastName="Müller", email="jm@x.de"),
                       lead(3, firstName="由美", lastName="佐藤", email="yumi@x.jp", company="株式会社")],
                      source_file="jp.csv", run_id="jp")
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="cp1252", newline="")
    monkeypatch.setattr(sys, "stdout", out)
    assert export_leads(store, "-") == 2
    out.flush()
    text = raw.getvalue().decode("utf-8")
    assert "Müller" in text and "佐藤" in text


@pytest.mark.parametrize("name", ["leads.xlsb", "leads.tsv", "leads.xltx"])
def test_export_refuses_other_spreadsheet_formats_too(tmp_path, name):
    """``check_output_path`` refuses ``.xlsx/.xlsm/.xls/.ods/.json/.parquet/.xml/.html`` (Excel refuses CSV text
    under those names) but writes CSV to ``leads.xlsb`` (Excel's binary workbook: "the file format or extension is
    not valid"), ``leads.xltx`` (a template) and ``leads.tsv`` (tab-separated: opens as one column)."""
    from easycrm_pipeline.readers.export import ExportError, check_output_path

    with pytest.raises(ExportError, match="the export is CSV"):
        check_output_path(tmp_path / name)
