"""Possible duplicates of one import (issue 18): the leads a run created or updated, compared with the whole table
through blocking keys, scored, and recorded with their evidence. Never merges anything.

The Dagster asset ``possible_duplicates`` (``dagster_defs/duplicates.py``) calls :func:`detect_duplicates` after the
file's upsert; ``easycrm duplicates`` lists what it recorded.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from easycrm_pipeline.matching.pairs import count_by_rule, score_candidates
from easycrm_pipeline.matching.score import DEFAULT_THRESHOLD

#: Leads of a run scored per round (the candidates of a round are scored, then freed).
CHUNK = 2_000
#: Pairs recorded per write transaction (after the last round: the rounds hold a read of the store).
RECORD_SLICE = 50_000


@dataclass
class DetectResult:
    """What :func:`detect_duplicates` did.

    Attributes:
        leads_compared: leads of the run compared with the table.
        candidates: candidate pairs scored (pairs sharing at least one blocking key).
        pairs_found: pairs at or above the threshold, dismissed ones excluded (all recorded).
        by_rule: ``{rule: pairs found through it}`` (a pair found by two rules counts for both).
        skipped_keys: ``{rule: keys skipped}``: blocks larger than ``MAX_BLOCK``.
        threshold: the minimum score used.
        seconds: wall time (blocking + scoring + writing).
        top: the best pairs (at most 10): ``{"leadA", "leadB", "score", "rules"}``.
    """

    leads_compared: int = 0
    candidates: int = 0
    pairs_found: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)
    skipped_keys: dict[str, int] = field(default_factory=dict)
    threshold: float = DEFAULT_THRESHOLD
    seconds: float = 0.0
    top: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The result as a JSON-able dict (field names)."""
        return asdict(self)


def detect_duplicates(store, *, run_id: str | None, source_file: str | None = None,
                      threshold: float = DEFAULT_THRESHOLD, lead_ids: list[str] | None = None) -> DetectResult:
    """Find and record the possible duplicates of the leads run ``run_id`` created or updated.

    Args:
        store: a ``LeadStore``.
        run_id: the import's run (its ``lead_created``/``lead_updated`` audit rows name the leads).
        source_file: recorded with the pairs.
        threshold: minimum score (0..1).
        lead_ids: compare these leads instead of the run's.

    Returns:
        :class:`DetectResult`.

    Raises:
        ValueError: ``threshold`` outside 0..1.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold}")
    t0 = time.monotonic()
    ids = list(lead_ids) if lead_ids is not None else store.run_lead_ids(run_id)
    result = DetectResult(leads_compared=len(ids), threshold=threshold)
    dismissed = store.dismissed_pairs() if ids else set()
    found: dict[tuple[str, str], Any] = {}
    skipped: dict[str, int] = {}
    round_of = {lead_id: i // CHUNK for i, lead_id in enumerate(ids)}

    def score_round(now: int, cands, leads) -> None:
        # a pair with a lead of an earlier round was scored in that round
        fresh = {pair: rules for pair, rules in cands.pairs.items()
                 if min(round_of.get(pair[0], now), round_of.get(pair[1], now)) >= now}
        result.candidates += len(fresh)
        chunk = score_candidates(fresh, leads, threshold=threshold, dismissed=dismissed)
        found.update(((p.lead_a, p.lead_b), p) for p in chunk)
        for rule, n in cands.skipped_keys.items():
            skipped[rule] = skipped.get(rule, 0) + n

    for k, (cands, leads) in enumerate(store.duplicate_candidate_rounds(ids, CHUNK)):
        score_round(k, cands, leads)
        del cands, leads
    best = sorted(found.values(), key=lambda p: (-p.score, p.lead_a, p.lead_b))
    for first in range(0, len(best), RECORD_SLICE):
        store.record_possible_duplicates(best[first:first + RECORD_SLICE], source_file=source_file, run_id=run_id)
    result.pairs_found = len(best)
    result.skipped_keys = skipped
    result.top = [{"leadA": p.lead_a, "leadB": p.lead_b, "score": p.score, "rules": p.rules} for p in best[:10]]
    result.by_rule = count_by_rule(best)
    result.seconds = round(time.monotonic() - t0, 3)
    return result


__all__ = ["DetectResult", "detect_duplicates"]
