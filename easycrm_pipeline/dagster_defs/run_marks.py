"""Marks on ingest runs kept in the Dagster instance, so the drop-zone sensors need nothing but the instance.

``easycrm undo FILE`` and ``undo_job`` tag the ingest run whose import they reverted with ``easycrm/undone=true``
(:func:`mark_import_undone`); a sensor seeing the same content dropped again reads the tag on that file's last run
(:func:`is_undone`) and runs it again. The lead store is never consulted by the sensors.

``collect_leads`` tags its run ``easycrm/committed=true`` right after the file's leads are committed
(:func:`mark_committed`): ``easycrm status`` then says ``completed`` and ``easycrm cancel`` refuses, even while the
run's asset checks still run.
"""
from __future__ import annotations

from collections.abc import Mapping

#: Run tag set on an ingest run whose import was undone.
UNDONE_TAG = "easycrm/undone"
#: Run tag set on an ingest run once its file's leads are committed to the store (``collect_leads``): from then on
#: the file's status is ``completed`` and ``easycrm cancel`` refuses ("already completed").
COMMITTED_TAG = "easycrm/committed"
#: Run tag with the run's DeepSeek cost in US dollars (``"$0.0123"``), shown in the runs list and the run header.
COST_TAG = "easycrm/cost_usd"


def cost_tags(cost_usd: float, llm_calls: int) -> dict[str, str]:
    """``{COST_TAG: "$0.0123"}`` for a run that called DeepSeek (4 decimals: DeepSeek's prices are per million
    tokens, a 10-lead batch costs about $0.001); ``{}`` for a run that made no call."""
    return {COST_TAG: f"${cost_usd:.4f}"} if llm_calls or cost_usd else {}


def mark_import_undone(instance, run_id: str) -> bool:
    """Tag run ``run_id`` with ``easycrm/undone=true`` when the instance knows it.

    Args:
        instance: a ``DagsterInstance``.
        run_id: the run id of the undone import (``UndoResult.run_id``).

    Returns:
        True when the run was tagged; False when the instance has no such run (e.g. an import written by another
        instance or by a test).
    """
    if not run_id or not instance.has_run(run_id):
        return False
    instance.add_run_tags(run_id, {UNDONE_TAG: "true"})
    return True


def is_undone(tags: Mapping[str, str]) -> bool:
    """True when a run's tags say its import was undone (see :func:`mark_import_undone`)."""
    return tags.get(UNDONE_TAG) == "true"


def mark_committed(instance, run_id: str) -> None:
    """Tag run ``run_id`` with ``easycrm/committed=true``: its file's leads are in the store."""
    instance.add_run_tags(run_id, {COMMITTED_TAG: "true"})


def is_committed(tags: Mapping[str, str]) -> bool:
    """True when a run's tags say its file's leads were committed (see :func:`mark_committed`)."""
    return tags.get(COMMITTED_TAG) == "true"


__all__ = [
    "COMMITTED_TAG", "COST_TAG", "UNDONE_TAG", "cost_tags", "is_committed", "is_undone", "mark_committed",
    "mark_import_undone",
]
