"""Breaker 2: the click app's one-line errors (docs/contracts.md#command-line: ``easycrm <command>: <reason>``,
exit 2, click's usage errors included)."""
from __future__ import annotations

import pytest

from easycrm_pipeline.cli.main import main


@pytest.mark.xfail(strict=True, reason="breaker: an option missing its value (or given one it takes none) is "
                                       "reported as 'easycrm: ...' without the command's name")
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
