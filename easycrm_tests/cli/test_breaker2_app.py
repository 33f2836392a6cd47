"""Breaker 2: the click app's one-line errors (docs/contracts.md#command-line: ``easycrm <command>: <reason>``,
exit 2, click's usage errors included)."""
from __future__ import annotations

import pytest

from easycrm_pipeline.cli.main import main


@pytest.mark.parametrize("argv, command", [
    (["leads", "--page-size"], "leads"),
    (["duplicates", "--min-score"], "duplicates"),
    (["undo", "--merge"], "undo"),
    (["leads", "--json=1"], "leads"),
])
def test_an_option_without_its_value_names_the_command(isolated_env, capsys, argv, command):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"easycrm {command}: "), err


@pytest.mark.parametrize("variable, argv", [("DAGSTER_HOME", ["status"]), ("EASYCRM_DB", ["leads", "--json"])])
def test_an_unusable_path_setting_is_one_line_and_exit_2(isolated_env, variable, argv):
    import os
    import subprocess
    import sys

    target = isolated_env / "plain.txt"
    target.write_text("not a folder\n")
    bad = str(target) if variable == "DAGSTER_HOME" else str(isolated_env)  # a file as home, a folder as the DB
    env = {**os.environ, variable: bad}
    done = subprocess.run([sys.executable, "-m", "easycrm_pipeline.cli.main", *argv], env=env, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr[-500:]
    assert done.stderr.startswith(f"easycrm {argv[0]}: ") and variable in done.stderr
