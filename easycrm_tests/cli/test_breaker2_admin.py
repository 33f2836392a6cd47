"""Breaker 2: ``easycrm undo FILE`` takes the file's name like ``status`` and ``cancel`` do (docs/contracts.md: "A file
is known by its base name ... what status, cancel and undo accept"). A real ingest (run process, Dagster instance in
a temp DAGSTER_HOME, DuckDB store) of a file whose name holds a bidi override character."""
from __future__ import annotations

import json


from easycrm_pipeline.cli.main import main

NAME = "bidi\u202eVSC.exe.csv"


def test_undo_accepts_the_name_status_accepts(isolated_env, capsys):
    path = isolated_env / NAME
    path.write_text("First Name,Last Name,Email\nAnn,Alpha,ann@example.com\n", encoding="utf-8")
    assert main(["ingest", str(path), "--json"]) == 0
    capsys.readouterr()
    assert main(["status", NAME, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "completed"
    assert main(["undo", NAME, "--dry-run", "--json"]) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["deleted"] == 1
