"""``easycrm duplicates``, ``easycrm merge``, ``easycrm dismiss`` and ``easycrm undo --merge`` (issue 18).

* ``duplicates [--min-score S]``: the recorded possible duplicates, best first; ``--json`` prints
  ``{"pairs": [pair, ...], "total", "minScore"}`` (a pair as ``LeadStore.possible_duplicates`` returns it).
* ``merge KEEP OTHER [--dry-run]``: merge lead OTHER into lead KEEP (``matching/merge.py``) and delete OTHER;
  ``--json`` prints ``MergeResult.to_dict()`` (``keep``, ``other``, ``mergeId``, ``lead``, ``changed``, ``dryRun``,
  ``undone``, ``conflictsOverridden``).
* ``dismiss A B``: A and B are different people; the pair is never proposed again. ``--json``:
  ``{"leadA", "leadB", "dismissed"}`` (``dismissed`` false when it already was).
* ``undo --merge KEEP [--force] [--dry-run]``: reverse the latest merge into KEEP (same document as ``merge``).

Exit codes: 0 done; 2 bad input (unknown lead, KEEP == OTHER, a score outside 0..1, an undo refused).
"""
from __future__ import annotations

import json
import sys

from easycrm_pipeline.cli.admin import _changed_by
from easycrm_pipeline.cli.main import UsageError, _console
from easycrm_pipeline.matching.pairs import pair_of
from easycrm_pipeline.store.base import UndoRefused


def _store(create: bool = False):
    from easycrm_pipeline.config import get_settings
    from easycrm_pipeline.pipeline.collect import open_store
    from easycrm_pipeline.store import get_store

    return open_store(get_settings()) if create else get_store(get_settings())


def _print_json(doc) -> None:
    print(json.dumps(doc, default=str, ensure_ascii=False))


def _who(lead: dict) -> str:
    name = " ".join(x for x in (lead.get("firstName"), lead.get("lastName")) if x) or "(no name)"
    extra = ", ".join(x for x in (lead.get("email"), lead.get("company"), lead.get("phone")) if x)
    return f"{name} <{extra}>" if extra else name


def _evidence(pair: dict) -> str:
    return ", ".join(f"{e['field']} {e['how'].replace('_', ' ')}" for e in pair.get("evidence") or [] if e["weight"] > 0)


def _cmd_duplicates(args) -> int:
    if not 0.0 <= args.min_score <= 1.0:
        raise UsageError(f"--min-score must be between 0 and 1, got {args.min_score}")
    pairs = _store().possible_duplicates(args.min_score)
    if args.json:
        _print_json({"pairs": pairs, "total": len(pairs), "minScore": args.min_score})
        return 0
    if not pairs:
        print("no possible duplicates" + (f" with score >= {args.min_score}" if args.min_score else ""))
        return 0
    from rich.table import Table

    table = Table(title=f"possible duplicates: {len(pairs)}")
    for col in ("score", "lead A", "lead B", "found by", "agreed"):
        table.add_column(col)
    for p in pairs:
        table.add_row(f"{p['score']:.2f}", f"{p['leadA']}\n{_who(p['a'])}", f"{p['leadB']}\n{_who(p['b'])}",
                      ", ".join(p["rules"] or []), _evidence(p))
    _console().print(table)
    print("merge one into the other: easycrm merge KEEP OTHER; not the same person: easycrm dismiss A B")
    return 0


def _print_merge(result, args) -> None:
    if args.json:
        _print_json(result.to_dict())
        return
    if result.undone:
        verb = "would restore" if result.dry_run else "restored"
        print(f"merge {result.merge_id}: {verb} lead {result.other} and the fields of {result.keep}")
    else:
        verb = "would merge" if result.dry_run else "merged"
        print(f"{verb} {result.other} into {result.keep}" + ("" if result.dry_run else
                                                             f" (merge {result.merge_id}; undo: easycrm undo --merge "
                                                             f"{result.keep})"))
    for field, change in result.changed.items():
        print(f"  {field}: {change['before']!r} -> {change['after']!r}")


def _cmd_merge(args) -> int:
    try:
        result = _store(create=True).merge_leads(args.keep, args.other, dry_run=args.dry_run)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    _print_merge(result, args)
    return 0


def _cmd_dismiss(args) -> int:
    try:
        new = _store(create=True).dismiss_pair(args.a, args.b)
        lead_a, lead_b = pair_of(args.a, args.b)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if args.json:
        _print_json({"leadA": lead_a, "leadB": lead_b, "dismissed": new})
    else:
        print(f"{lead_a} and {lead_b}: " + ("recorded as different people" if new else "already dismissed"))
    return 0


def undo_merge(args) -> int:
    """``easycrm undo --merge KEEP [--force] [--dry-run]`` (called by ``cli.admin``'s undo)."""
    try:
        result = _store(create=True).undo_merge(args.merge, force=args.force, dry_run=args.dry_run)
    except UndoRefused as exc:
        for lead in exc.leads:
            print(f"  {lead['email'] or lead['leadId']}: {_changed_by(lead)}", file=sys.stderr)
        raise UsageError(str(exc)) from exc
    _print_merge(result, args)
    return 0


def add_subcommands(sub) -> None:
    """Register ``duplicates``, ``merge`` and ``dismiss`` on the ``easycrm`` parser."""
    p = sub.add_parser("duplicates", help="possible duplicates: the same person under another email, or with none")
    p.add_argument("--min-score", type=float, default=0.0, help="only pairs scoring at least this (0-1)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_duplicates)

    p = sub.add_parser("merge", help="merge lead OTHER into lead KEEP (fills KEEP's blanks), delete OTHER")
    p.add_argument("keep", metavar="KEEP", help="leadId of the lead that stays")
    p.add_argument("other", metavar="OTHER", help="leadId of the lead merged into KEEP and deleted")
    p.add_argument("--dry-run", action="store_true", help="only show the merged lead")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_merge)

    p = sub.add_parser("dismiss", help="record that leads A and B are different people")
    p.add_argument("a", metavar="A")
    p.add_argument("b", metavar="B")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_dismiss)
