"""``easycrm duplicates``, ``easycrm merge`` and ``easycrm dismiss`` (issue 18; ``undo --merge`` is in
``cli/admin.py``).

* ``duplicates [--min-score S] [--page N] [--page-size M]``: the recorded possible duplicates, best first, a page
  at a time (50 by default); ``--json`` prints ``{"pairs": [pair, ...], "total", "minScore", "page", "pageSize"}``
  (a pair as ``LeadStore.possible_duplicates`` returns it; ``total`` counts every page).
* ``merge KEEP OTHER [--dry-run]``: merge lead OTHER into lead KEEP (``matching/merge.py``) and delete OTHER;
  ``--json`` prints ``MergeResult.to_dict()`` (``keep``, ``other``, ``mergeId``, ``lead``, ``changed``, ``dryRun``,
  ``undone``, ``conflictsOverridden``).
* ``dismiss A B``: A and B are different people; the pair is never proposed again. ``--json``:
  ``{"leadA", "leadB", "dismissed"}`` (``dismissed`` false when it already was).

Exit codes: 0 done; 2 bad input (unknown lead, KEEP == OTHER, a score outside 0..1).
"""
from __future__ import annotations

import click
from rich.table import Table

from easycrm_pipeline.cli.app import UsageError, json_option, paging, print_json, show_table
from easycrm_pipeline.cli.texts import print_merge
from easycrm_pipeline.config import get_settings
from easycrm_pipeline.matching.pairs import pair_of
from easycrm_pipeline.pipeline.collect import open_store
from easycrm_pipeline.store import get_store
from easycrm_pipeline.store.base import LeadQuery


def _who(lead: dict) -> str:
    name = " ".join(x for x in (lead.get("firstName"), lead.get("lastName")) if x) or "(no name)"
    extra = ", ".join(x for x in (lead.get("email"), lead.get("company"), lead.get("phone")) if x)
    return f"{name} <{extra}>" if extra else name


def _evidence(pair: dict) -> str:
    return ", ".join(f"{e['field']} {e['how'].replace('_', ' ')}" for e in pair.get("evidence") or [] if e["weight"] > 0)


def _print_pairs(pairs: list[dict], min_score: float, total: int, query: LeadQuery) -> None:
    if not pairs:
        if total:
            print(f"page {query.page} is past the last page ({total} pairs)")
        else:
            print("no possible duplicates" + (f" with score >= {min_score}" if min_score else ""))
        return
    title = f"possible duplicates: {total}"
    if len(pairs) < total:
        title += f" (page {query.page}: {query.offset + 1}-{query.offset + len(pairs)})"
    table = Table(title=title)
    for col in ("score", "lead A", "lead B", "found by", "agreed"):
        table.add_column(col)
    for p in pairs:
        table.add_row(f"{p['score']:.2f}", f"{p['leadA']}\n{_who(p['a'])}", f"{p['leadB']}\n{_who(p['b'])}",
                      ", ".join(p["rules"] or []), _evidence(p))
    show_table(table)
    print("merge one into the other: easycrm merge KEEP OTHER; not the same person: easycrm dismiss A B")


@click.command("duplicates", help="possible duplicates: the same person under another email, or with none")
@click.option("--min-score", type=float, default=0.0, help="only pairs scoring at least this (0-1)")
@paging
@json_option
def duplicates_command(min_score: float, page: int, page_size: int, as_json: bool) -> int:
    """The recorded possible duplicates scoring at least ``min_score``, best first, page ``page`` of
    ``page_size`` pairs (the ranges of ``easycrm leads``)."""
    if not 0.0 <= min_score <= 1.0:
        raise UsageError(f"--min-score must be between 0 and 1, got {min_score}")
    try:
        query = LeadQuery(page=page, page_size=page_size)  # the paging rule of every listing
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    pairs = get_store(get_settings()).possible_duplicates(min_score)
    shown = pairs[query.offset:query.offset + query.page_size]
    if as_json:
        print_json({"pairs": shown, "total": len(pairs), "minScore": min_score, "page": page, "pageSize": page_size})
    else:
        _print_pairs(shown, min_score, len(pairs), query)
    return 0


@click.command("merge", help="merge lead OTHER into lead KEEP (fills KEEP's blanks), delete OTHER")
@click.argument("keep", metavar="KEEP")
@click.argument("other", metavar="OTHER")
@click.option("--dry-run", is_flag=True, help="only show the merged lead")
@json_option
def merge_command(keep: str, other: str, dry_run: bool, as_json: bool) -> int:
    """KEEP: leadId of the lead that stays; OTHER: leadId of the lead merged into KEEP and deleted."""
    try:
        result = open_store(get_settings()).merge_leads(keep, other, dry_run=dry_run)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    print_merge(result, as_json)
    return 0


@click.command("dismiss", help="record that leads A and B are different people")
@click.argument("a", metavar="A")
@click.argument("b", metavar="B")
@json_option
def dismiss_command(a: str, b: str, as_json: bool) -> int:
    """Record that A and B are different people (never proposed as duplicates again)."""
    try:
        new = open_store(get_settings()).dismiss_pair(a, b)
        lead_a, lead_b = pair_of(a, b)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if as_json:
        print_json({"leadA": lead_a, "leadB": lead_b, "dismissed": new})
    else:
        print(f"{lead_a} and {lead_b}: " + ("recorded as different people" if new else "already dismissed"))
    return 0
