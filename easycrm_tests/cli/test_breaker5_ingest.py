"""Breaker 5: the tables of ``easycrm ingest`` show file names as rich markup."""
from __future__ import annotations

import pytest

from easycrm_pipeline.cli.main import main


def test_ingest_table_shows_a_file_name_with_brackets_as_it_is(isolated_env, capsys):
    """``leads [final].csv`` / ``Kunden [alt].csv`` are everyday file names. The ingest summary table prints
    ``leads .csv`` (rich markup drops ``[final]``), a name that matches no file and that ``easycrm quarantine``
    does not know; the leads are stored under ``leads [final].csv``."""
    path = isolated_env / "leads [final].csv"
    path.write_text("First Name,Last Name,Email\nAnn,Lee,ann@example.com\n", encoding="utf-8")
    code = main(["ingest", str(path), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "leads [final].csv" in out


def test_export_ingested_again_leaves_values_starting_with_formula_characters_unchanged(isolated_env, capsys):
    """``easycrm export`` writes a cell starting with ``= + - @`` behind an apostrophe (CSV injection guard); the
    export ingested again (the round trip ``rules.headers.OWN_EXPORT_COLUMNS`` was made for) keeps the apostrophe
    as part of the value: the lead is ``updated`` and its remarks ``- called twice`` become ``'- called twice``,
    its company ``@Acme`` becomes ``'@Acme``."""
    import csv
    import json

    import duckdb

    src = isolated_env / "crm.csv"
    src.write_text("First Name,Last Name,Email,Company,Notes\nAnn,Lee,ann@example.com,@Acme,- called twice\n",
                   encoding="utf-8")
    assert main(["ingest", str(src), "--quiet"]) == 0
    out = isolated_env / "export.csv"
    assert main(["export", str(out)]) == 0
    with out.open(encoding="utf-8-sig", newline="") as fh:
        assert [r["remarks"] for r in csv.DictReader(fh)] == ["'- called twice"]  # the guard, as designed
    capsys.readouterr()
    assert main(["ingest", str(out), "--json"]) == 0
    (result,) = json.loads(capsys.readouterr().out)["files"]
    con = duckdb.connect(str(isolated_env / "leads.duckdb"), read_only=True)
    stored = con.execute("SELECT company, remarks FROM leads").fetchall()
    con.close()
    assert stored == [("@Acme", "- called twice")]
    assert (result["leads_updated"], result["leads_unchanged"]) == (0, 1)
