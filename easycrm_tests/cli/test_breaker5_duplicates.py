"""Breaker 5: ``easycrm duplicates`` (now paged) with lead values that look like rich console markup."""
from __future__ import annotations

import pytest

from easycrm_pipeline.cli.main import main
from easycrm_pipeline.config import get_settings
from easycrm_pipeline.pipeline.collect import open_store
from easycrm_pipeline.pipeline.duplicates import detect_duplicates
from easycrm_tests.store.helpers import lead


def test_duplicates_table_prints_brackets_in_lead_values_as_text(capsys):
    """A CRM export with ``Wong[/]`` as a last name and ``[red]Acme[/]GmbH`` as a company (pasted from a
    chat tool, a template left unfilled) ingests fine, and ``easycrm duplicates --json`` lists the pair; the table
    (``_who`` cells handed to rich as markup) raises ``rich.errors.MarkupError: closing tag '[/]' at position ..
    has nothing to close`` (a traceback), and without the stray ``[/]`` shows ``AcmeGmbH`` for
    ``[red]Acme[/]GmbH``."""
    store = open_store(get_settings())
    store.upsert_file([
        lead(2, firstName="Mia", lastName="Wong[/]", company="[red]Acme[/]GmbH", email="mia@acme.de",
             phone="+49305550001"),
        lead(3, firstName="Mia", lastName="Wong[/]", company="[red]Acme[/]", email="mia.wong@gmail.com",
             phone="0305550001"),
    ], source_file="a.csv", run_id="run-a")
    assert detect_duplicates(store, run_id="run-a", source_file="a.csv").pairs_found == 1
    code = main(["duplicates"])
    out, _err = capsys.readouterr()
    assert code == 0
    assert "Wong[/]" in out and "[red]Acme[/]" in out
