"""Breaker 5: ``easycrm export`` with a path that only looks like the standard-output marker."""
from __future__ import annotations

import json

import pytest

from easycrm_pipeline.cli.main import main
from easycrm_tests.readers.seed import env_store, seed


def test_export_dot_slash_dash_writes_a_file_named_dash(capsys, tmp_path, monkeypatch):
    """``./-`` is the usual way to name a file called ``-``; only the bare ``-`` means standard output. Today
    ``Path('./-')`` is compared as ``'-'``: the CSV goes to stdout, mixed with the JSON summary that names
    ``<cwd>/-`` as written, and no file exists."""
    seed(env_store())
    monkeypatch.chdir(tmp_path)
    code = main(["export", "./-", "--json"])
    out, _err = capsys.readouterr()
    assert code == 0
    assert json.loads(out) == {"path": str((tmp_path / "-").resolve()), "rows": 7}
    assert (tmp_path / "-").is_file()


def test_leads_table_prints_brackets_in_lead_values_as_text(capsys):
    """The same class as ``easycrm duplicates``: a stored last name ``Wong[/]`` makes the ``easycrm leads`` table
    raise ``rich.errors.MarkupError: closing tag '[/]' at position 4 has nothing to close``."""
    from easycrm_tests.store.helpers import lead

    store = env_store()
    store.upsert_file([lead(2, firstName="Mia", lastName="Wong[/]", company="[red]Acme[/]", email="mia@acme.de")],
                      source_file="a.csv", run_id="run-a")
    code = main(["leads"])
    out, _err = capsys.readouterr()
    assert code == 0
    assert "Wong[/]" in out and "[red]Acme[/]" in out
