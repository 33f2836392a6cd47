"""Breaker case on ``easycrm export``: the output path may be the lead store itself; the export then replaces the
DuckDB file with CSV text (every lead, the audit trail and the quarantine gone) and exits 0."""
from __future__ import annotations

import json
import os

import pytest

from easycrm_pipeline.cli.main import main
from easycrm_tests.readers.seed import env_store, seed


def test_breaker_export_onto_the_store_file_is_refused_and_changes_nothing(capsys):
    seed(env_store())
    db = os.environ["EASYCRM_DB"]
    before = open(db, "rb").read(16)
    code = main(["export", db])
    capsys.readouterr()
    assert code != 0
    assert open(db, "rb").read(16) == before
    assert main(["leads", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["leads"]) == 7


@pytest.mark.parametrize("target", ["wal", "lock", "relative", "symlink", "hardlink"])
def test_export_onto_any_store_file_or_alias_is_refused_in_one_line(capsys, tmp_path, monkeypatch, target):
    seed(env_store())
    db = os.environ["EASYCRM_DB"]
    if target in ("wal", "lock"):
        out = db + "." + target
    elif target == "relative":
        monkeypatch.chdir(os.path.dirname(db))
        out = os.path.join("..", os.path.basename(os.path.dirname(db)), os.path.basename(db))
    else:
        out = str(tmp_path / "alias.duckdb")
        (os.symlink if target == "symlink" else os.link)(db, out)
    before = {p: open(p, "rb").read() for p in (db, out) if os.path.isfile(p)}
    code = main(["export", out])
    err = capsys.readouterr().err
    assert code == 2 and "lead store's own file" in err and len(err.strip().splitlines()) == 1
    assert {p: open(p, "rb").read() for p in before} == before
    assert not [n for n in os.listdir(os.path.dirname(os.path.abspath(out))) if n.endswith(".tmp")]
