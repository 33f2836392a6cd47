"""``easycrm undo FILE`` / ``easycrm undo --merge KEEP``, ``easycrm init-store`` and ``easycrm restandardize``:
store administration (docs/contracts.md#command-line).

* ``undo FILE [--force] [--dry-run]``: revert the latest import of FILE (``pipeline/undo.py``); ``--json``:
  ``{"file", "runId", "deleted", "restored", "conflictsOverridden", "dryRun"}``.
* ``undo --merge KEEP [--force] [--dry-run]``: reverse the latest merge into KEEP (issue 18; the document of
  ``easycrm merge``).
* ``init-store``: create the leads store; ``--json``: ``{"store", "location", "status": "ready"}``.
* ``restandardize [--dry-run]``: re-standardize the leads whose standardizer version is stale
  (``pipeline.restandardize``); ``--json`` prints the result dict. Exit 1 on a fatal DeepSeek error.
"""
from __future__ import annotations

import sys
import uuid

import click

from easycrm_pipeline.cli.app import UsageError, json_option, print_json
from easycrm_pipeline.cli.instance import get_instance
from easycrm_pipeline.cli.texts import changed_by, print_merge
from easycrm_pipeline.config import get_settings
from easycrm_pipeline.dagster_defs.run_marks import mark_import_undone
from easycrm_pipeline.deepseek.errors import DeepSeekFatal
from easycrm_pipeline.dropzone.rules import display_name
from easycrm_pipeline.pipeline.collect import open_store
from easycrm_pipeline.pipeline.restandardize import restandardize
from easycrm_pipeline.pipeline.standardizer import make_standardizer
from easycrm_pipeline.pipeline.undo import UndoRefused, undo_file
from easycrm_pipeline.store import get_store


def _refused(exc: UndoRefused) -> UsageError:
    """The conflicting leads on stderr, one a line; the refusal itself as the command's one-line error."""
    for lead in exc.leads:
        print(f"  {lead['email'] or lead['leadId']}: {changed_by(lead)}", file=sys.stderr)
    return UsageError(str(exc))


def _mark_undone_in_dagster(run_id: str) -> None:
    """Tag the undone ingest run ``easycrm/undone=true`` in the Dagster instance, so the drop-zone sensors run the
    same content again when it is dropped again. The leads are already reverted: a failure here is only a warning."""
    try:
        mark_import_undone(get_instance(), run_id)
    except Exception as exc:  # noqa: BLE001 - the undo itself succeeded; say why the mark is missing
        print(f"easycrm undo: warning: could not mark run {run_id} undone in Dagster ({exc}); dropping the same "
              "file again will be skipped by the sensors — use `easycrm ingest` instead", file=sys.stderr)


def _undo_merge(keep: str, force: bool, dry_run: bool, as_json: bool) -> int:
    try:
        result = open_store(get_settings()).undo_merge(keep, force=force, dry_run=dry_run)
    except UndoRefused as exc:
        raise _refused(exc) from exc
    print_merge(result, as_json)
    return 0


def _undo_file(file: str, force: bool, dry_run: bool, as_json: bool) -> int:
    # a path as given to `easycrm ingest`: leads keep the base name, stored as displayed (bidi/control escaped)
    file = display_name(file.rstrip("/").rsplit("/", 1)[-1])
    try:
        result = undo_file(get_store(get_settings()), file, force=force, dry_run=dry_run)
    except UndoRefused as exc:
        raise _refused(exc) from exc
    if not result.dry_run:
        _mark_undone_in_dagster(result.run_id)
    if as_json:
        print_json({"file": result.file, "runId": result.run_id, "deleted": result.deleted,
                    "restored": result.restored, "conflictsOverridden": len(result.conflicts),
                    "dryRun": result.dry_run})
        return 0
    verb, again = ("would delete", "would restore") if result.dry_run else ("deleted", "restored")
    print(f"{result.file} (run {str(result.run_id)[:8]}): {verb} {result.deleted} created lead(s), "
          f"{again} {result.restored} updated lead(s)")
    return 0


@click.command("undo", help="revert what the latest import of FILE changed")
@click.argument("file", metavar="FILE", required=False)
@click.option("--merge", "merge", metavar="KEEP", help="undo the latest merge into lead KEEP instead (easycrm merge)")
@click.option("--force", is_flag=True,
              help="undo even leads changed later by another import, a re-standardization or an undo")
@click.option("--dry-run", is_flag=True, help="only say what would be reverted")
@json_option
def undo_command(file: str | None, merge: str | None, force: bool, dry_run: bool, as_json: bool) -> int:
    """FILE: the file name (sourceFile) of the import; or ``--merge KEEP``, not both."""
    if merge and file:
        raise UsageError("give FILE or --merge KEEP, not both")
    if merge:
        return _undo_merge(merge, force, dry_run, as_json)
    if not file:
        raise UsageError("name the FILE whose import to undo (or --merge KEEP to undo a merge)")
    return _undo_file(file, force, dry_run, as_json)


@click.command("init-store", help="create the leads store (DuckDB file or DynamoDB table + EmailIndex)")
@json_option
def init_store_command(as_json: bool) -> int:
    """Create the configured store's file or table (idempotent)."""
    settings = get_settings()
    store = get_store(settings)
    store.init()
    where = store.location()
    if as_json:
        print_json({"store": settings.store, "location": where, "status": "ready"})
    else:
        print(f"{settings.store} store ready at {where}")
    return 0


def _print_restandardized(result, dry_run: bool) -> None:
    print(f"current standardizer: {result.current_version}")
    print(f"stale leads: {result.stale}" + (f" {result.stale_by_version}" if result.stale else ""))
    if dry_run:
        for lead in result.sample:
            print(f"  {lead['leadId']}  {lead['email'] or '(no email)'}  {lead['sourceFile']}  {lead['standardizer']}")
        return
    print(
        f"updated: {result.updated}, unchanged (version bumped): {result.unchanged}, "
        f"skipped without email: {result.skipped_no_email}, skipped email changed: {result.skipped_email_changed}, "
        f"failed: {result.skipped_failed} ({result.failed_batches} of {result.batches} batches)"
    )
    for note in result.notes:
        print(f"note: {note}")


@click.command("restandardize", help="re-standardize leads whose standardizer version is stale")
@click.option("--dry-run", is_flag=True, help="only count and list the stale leads")
@json_option
def restandardize_command(dry_run: bool, as_json: bool) -> int:
    """Re-standardize the stale leads (``--dry-run``: only count and list them, creating nothing)."""
    settings = get_settings()
    store = get_store(settings) if dry_run else open_store(settings)
    try:
        result = restandardize(store, make_standardizer(settings), batch_size=settings.batch_size, dry_run=dry_run,
                               run_id=f"cli-restandardize-{uuid.uuid4().hex[:12]}")
    except DeepSeekFatal as exc:
        print(f"easycrm restandardize: DeepSeek: {exc.reason}", file=sys.stderr)
        return 1
    if as_json:
        print_json(result.to_dict())
    else:
        _print_restandardized(result, dry_run)
    return 0
