"""The undo job: ``easycrm undo FILE`` from the Dagster UI's launchpad."""
import dagster as dg

from easycrm_pipeline.dagster_defs.resources import StoreResource
from easycrm_pipeline.dagster_defs.run_marks import mark_import_undone
from easycrm_pipeline.pipeline.undo import UndoRefused, undo_file


class UndoConfig(dg.Config):
    """Which import to revert: the latest not-yet-undone import of ``file`` (its ``sourceFile`` name)."""

    file: str
    force: bool = False
    dry_run: bool = False


@dg.op(description="Revert what the latest import of a file changed (deleted creations, restored updates).")
def undo_file_op(context: dg.OpExecutionContext, config: UndoConfig, store: StoreResource) -> dg.Output[dict]:
    """Run ``pipeline.undo.undo_file``; a refusal (conflicts without force, nothing to undo) fails the run clearly.

    A real undo also tags the undone ingest run ``easycrm/undone=true`` (see ``run_marks.mark_import_undone``), so
    the drop-zone sensors run the same content again when it is dropped again."""
    try:
        result = undo_file(
            store.get(), config.file, force=config.force, dry_run=config.dry_run,
            undo_run_id=context.run_id,
        )  # fmt: skip
    except UndoRefused as exc:
        listing = ", ".join(c["email"] or c["leadId"] for c in exc.leads[:20])
        raise dg.Failure(description=f"{exc}{': ' + listing if listing else ''}", allow_retries=False) from exc
    if not result.dry_run and mark_import_undone(context.instance, result.run_id):
        context.log.info(f"marked run {result.run_id} undone (easycrm/undone=true)")
    doc = {"file": result.file, "run": result.run_id, "deleted": result.deleted, "restored": result.restored}
    return dg.Output(doc, metadata={**doc, "dry_run": result.dry_run, "conflicts_overridden": len(result.conflicts)})


@dg.job(description="Undo one file's import (the same as `easycrm undo FILE`).")
def undo_job():
    """One op: ``undo_file_op``."""
    undo_file_op()


jobs = [undo_job]
