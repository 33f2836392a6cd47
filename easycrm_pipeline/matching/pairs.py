"""From blocking to recorded pairs: candidate pairs by shared blocking key, scored, kept above a threshold.

A store finds the candidates (the DuckDB store joins the new leads to the table on :data:`keys.SQL_KEYS`; any other
store uses :func:`candidates_in_python`), this module scores them (:func:`score_candidates`). Both follow the same
rules:

* a pair is two different leads, written ``(smaller leadId, larger leadId)``;
* a blocking key held by more than :data:`MAX_BLOCK` leads of the table is not used (a shared switchboard number, a
  company with thousands of leads): its block would cost more than it finds, and the other keys still apply;
* a pair recorded as "not the same person" (``dismissed``) is never proposed again.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from easycrm_pipeline.matching.keys import RULES, blocking_keys
from easycrm_pipeline.matching.score import DEFAULT_THRESHOLD, features, score_features

#: A blocking key shared by more leads of the table than this is skipped: a common name ("Thomas Müller" in a large
#: table), a switchboard number, a big customer with one initial. Each lead of a block meets every other lead of it,
#: so the work of a file is bounded by ``leads x 4 rules x MAX_BLOCK`` pairs (measured: 50,000 leads whose 1,080
#: names give ~46 leads per name made ~2 million candidate pairs at 200, ~180,000 at 25).
MAX_BLOCK = 25


def pair_of(a: str, b: str) -> tuple[str, str]:
    """The canonical form of a pair of lead ids: ``(smaller, larger)``.

    Raises:
        ValueError: ``a == b`` (a lead is no duplicate of itself).
    """
    if a == b:
        raise ValueError(f"a pair needs two different leads, got {a!r} twice")
    return (a, b) if a < b else (b, a)


@dataclass
class Candidates:
    """Candidate pairs of a batch of new leads.

    Attributes:
        pairs: ``{(leadA, leadB): {rule, ...}}`` (the blocking rules that brought each pair together).
        skipped_keys: ``{rule: number of keys skipped}`` (blocks larger than :data:`MAX_BLOCK`).
    """

    pairs: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    skipped_keys: dict[str, int] = field(default_factory=dict)

    def add(self, a: str, b: str, rule: str) -> None:
        """Record that leads ``a`` and ``b`` share the key of ``rule`` (ignored when ``a == b``)."""
        if a != b:
            self.pairs.setdefault(pair_of(a, b), set()).add(rule)


@dataclass
class FoundPair:
    """A pair at or above the threshold.

    Attributes:
        lead_a / lead_b: the lead ids (``lead_a < lead_b``).
        score: 0..1 (:func:`score_pair`).
        rules: the blocking rules that found it, in :data:`RULES` order.
        evidence: :attr:`PairScore.evidence`.
    """

    lead_a: str
    lead_b: str
    score: float
    rules: list[str]
    evidence: list[dict[str, Any]]


class BlockIndex:
    """The blocks of a table in memory: ``{(rule, key): [leadId, ...]}`` of every lead, built once (one pass), then
    asked for the candidates of any number of rounds of new leads. For stores without SQL and for tests.

    Args:
        table: every lead of the store (``leadId`` and the ``leads`` columns).
    """

    def __init__(self, table: Iterable[Mapping[str, Any]]) -> None:
        self.blocks: dict[tuple[str, str], list[str]] = {}
        self.ids: set[str] = set()
        for lead in table:
            self.ids.add(lead["leadId"])
            for rule, key in blocking_keys(lead).items():
                self.blocks.setdefault((rule, key), []).append(lead["leadId"])

    def candidates(self, new_leads: Iterable[Mapping[str, Any]]) -> Candidates:
        """Candidate pairs of ``new_leads`` against the table; new leads that are not in the table also meet each
        other. Blocks larger than :data:`MAX_BLOCK` are skipped and counted once per key in ``skipped_keys``."""
        new = list(new_leads)
        extra: dict[tuple[str, str], list[str]] = {}
        for lead in new:
            if lead["leadId"] not in self.ids:
                for rule, key in blocking_keys(lead).items():
                    extra.setdefault((rule, key), []).append(lead["leadId"])
        out = Candidates()
        skipped: set[tuple[str, str]] = set()
        for lead in new:
            for rule, key in blocking_keys(lead).items():
                members = self.blocks.get((rule, key), []) + extra.get((rule, key), [])
                if len(members) > MAX_BLOCK:
                    skipped.add((rule, key))
                    continue
                for other in members:
                    out.add(lead["leadId"], other, rule)
        out.skipped_keys = dict(Counter(rule for rule, _key in skipped))
        return out


def candidates_in_python(new_leads: Iterable[Mapping[str, Any]], table: Iterable[Mapping[str, Any]]) -> Candidates:
    """Candidate pairs of ``new_leads`` against ``table`` (which may contain them) by :func:`blocking_keys`, in
    memory: ``BlockIndex(table).candidates(new_leads)``. ``O(len(table))`` once, never all pairs."""
    return BlockIndex(table).candidates(new_leads)


def score_candidates(
    candidates: Mapping[tuple[str, str], Iterable[str]],
    leads: Mapping[str, Mapping[str, Any]],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    dismissed: Iterable[tuple[str, str]] = (),
) -> list[FoundPair]:
    """Score every candidate pair and keep those at or above ``threshold``, best first.

    Args:
        candidates: ``{(leadA, leadB): rules}`` (``Candidates.pairs``).
        leads: ``{leadId: lead}`` holding every lead of the pairs (a pair whose lead is missing is skipped: it was
            deleted meanwhile).
        threshold: the minimum score (0..1).
        dismissed: pairs recorded as different people (in either order); never returned.

    Returns:
        :class:`FoundPair` list sorted by score (highest first), then ids.

    Raises:
        ValueError: ``threshold`` outside 0..1.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold}")
    skip = {pair_of(a, b) for a, b in dismissed}
    found = []
    cache: dict[str, Any] = {}

    def feats(lead_id: str):
        f = cache.get(lead_id)
        if f is None:
            f = cache[lead_id] = features(leads[lead_id])
        return f

    for (a, b), rules in candidates.items():
        if (a, b) in skip or a not in leads or b not in leads:
            continue
        verdict = score_features(feats(a), feats(b))
        if verdict.score >= threshold:
            found.append(FoundPair(a, b, verdict.score, [r for r in RULES if r in set(rules)], verdict.evidence))
    found.sort(key=lambda p: (-p.score, p.lead_a, p.lead_b))
    return found


def count_by_rule(pairs: Iterable[FoundPair]) -> dict[str, int]:
    """``{rule: pairs found through it}`` for every rule of :data:`RULES` (a pair found by two rules counts twice)."""
    counts = {rule: 0 for rule in RULES}
    for p in pairs:
        for rule in p.rules:
            counts[rule] += 1
    return counts
