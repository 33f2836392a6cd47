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
