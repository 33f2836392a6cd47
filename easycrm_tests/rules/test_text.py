"""rules/text.py: the spreadsheet formula guard of exports and its inverse."""
from __future__ import annotations

import pytest


@pytest.mark.parametrize("value", ["- called twice", "@Acme", "=HYPERLINK(\"http://x\",\"y\")", "\t=1", "plain",
                                   "'Tis the season", "+4930111"])
def test_unguard_cell_takes_off_exactly_the_guard_neutralize_cell_put_on(value):
    """An export coming back: ``unguard_cell(neutralize_cell(v)) == v`` for every value, and a value the export did
    not guard keeps its apostrophe (``'Tis`` is a word)."""
    from easycrm_pipeline.rules.text import neutralize_cell, unguard_cell

    assert unguard_cell(neutralize_cell(value)) == value
    assert unguard_cell("'Tis the season") == "'Tis the season"
