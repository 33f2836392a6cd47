"""The click app's shared lead filters (cli/app.py) come from the field registry (fields.FILTERS): one flag per
filterable field, a field without a ``LeadQuery`` keyword of its own passed as ``LeadQuery.filters``."""
from __future__ import annotations

import click
from click.testing import CliRunner

from easycrm_pipeline.cli.app import filter_flags, make_lead_filters
from easycrm_pipeline.fields import FILTERS, FilterOption
from easycrm_pipeline.store.base import LeadQuery


def _command(options):
    seen = {}

    @click.command()
    @make_lead_filters(options)
    def cmd(filters):
        seen["filters"] = filters
        seen["query"] = LeadQuery(**filters)

    return cmd, seen


def test_every_field_filter_of_the_registry_is_a_flag_between_search_and_source():
    flags = [flag for flag, _dest, _help in filter_flags(FILTERS)]
    assert flags == ["--search", "--first-name", "--last-name", "--title", "--company", "--email", "--phone",
                     "--source"]


def test_a_known_field_is_a_leadquery_keyword_and_sort_flags_keep_their_defaults():
    cmd, seen = _command(FILTERS)
    result = CliRunner().invoke(cmd, ["--first-name", "ann", "--source", "a.csv"])
    assert result.exit_code == 0, result.output
    assert seen["filters"]["first_name"] == "ann" and seen["filters"]["source_file"] == "a.csv"
    assert seen["filters"]["sort"] == "createdAt" and seen["filters"]["descending"] is True
    assert "filters" not in seen["filters"]
    assert seen["query"].column_filters() == {"firstName": "ann", "sourceFile": "a.csv"}


def test_a_field_added_after_the_seven_filters_through_leadquery_filters():
    # a registry entry like docs/adding-a-field.md's linkedinUrl (no LeadQuery keyword of its own); the query is
    # built against an existing field name so LeadQuery accepts it
    extra = FilterOption("--company-alias", "company_alias", "company", "text", "company contains")
    cmd, seen = _command((*FILTERS, extra))
    result = CliRunner().invoke(cmd, ["--company-alias", "acme", "--asc"])
    assert result.exit_code == 0, result.output
    assert seen["filters"]["filters"] == {"company": "acme"} and seen["filters"]["descending"] is False
    assert "company_alias" not in seen["filters"]
    assert seen["query"].column_filters() == {"company": "acme"}
    assert CliRunner().invoke(cmd, []).exit_code == 0
    assert "filters" not in seen["filters"]  # an unused extra flag adds no filter
