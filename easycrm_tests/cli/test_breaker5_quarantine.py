"""Breaker 5: ``easycrm quarantine FILE`` (new) prints rejected rows, whose cells are whatever the file held."""
from __future__ import annotations

import pytest

from easycrm_pipeline.cli.main import main
from easycrm_pipeline.models import QuarantineRow
from easycrm_tests.readers.seed import env_store


def test_quarantine_table_prints_brackets_in_rejected_cells_as_text(capsys):
    """A CSV whose footer row reads ``Total [/b]`` is ingested (the row quarantined as ``footer/summary row``);
    ``easycrm quarantine quarmk.csv --json`` lists it, the table raises ``rich.errors.MarkupError: closing tag
    '[/b]' at position 6 doesn't match any open tag``."""
    env_store().add_quarantine([QuarantineRow(None, 4, "footer/summary row", {"First Name": "Total [/b]"})],
                               source_file="quarmk.csv", run_id="r1")
    code = main(["quarantine", "quarmk.csv"])
    out, _err = capsys.readouterr()
    assert code == 0
    assert "Total [/b]" in out
