"""Candidates, scoring and the gold set of issue 18: precision >= 0.95 and recall >= 0.90 on the pairs."""
import pytest

from easycrm_pipeline.matching.gold import DUPLICATE_KINDS, LOOKALIKE_KINDS, evaluate, make_gold_set
from easycrm_pipeline.matching.pairs import (MAX_BLOCK, candidates_in_python, count_by_rule, pair_of,
                                             score_candidates)


def _match(gold):
    cands = candidates_in_python(gold.new, gold.table + gold.new)
    leads = {lead["leadId"]: lead for lead in gold.table + gold.new}
    return cands, score_candidates(cands.pairs, leads)


@pytest.mark.parametrize("seed", [18, 1018])
def test_gold_set_precision_and_recall(seed):
    gold = make_gold_set(seed)
    assert len(gold.pairs) == 400
    assert {k for k in gold.kinds.values()} == set(DUPLICATE_KINDS) | set(LOOKALIKE_KINDS)
    cands, found = _match(gold)
    result = evaluate(gold, [(p.lead_a, p.lead_b) for p in found])
    assert result["precision"] >= 0.95, result
    assert result["recall"] >= 0.90, result
    # never all pairs: the candidates are a tiny share of new x table
    assert len(cands.pairs) < len(gold.new) * len(gold.table) / 100


def test_evaluate_counts():
    gold = make_gold_set(3, people=50, duplicates=8, lookalikes=4, strangers=2)
    pairs = sorted(gold.pairs)
    result = evaluate(gold, pairs[:4] + [("x", "y")])
    assert result["true_positives"] == 4 and result["found"] == 5
    assert result["precision"] == pytest.approx(0.8) and result["recall"] == pytest.approx(0.5)
    assert sum(result["missed_by_kind"].values()) == 4 and result["false_by_kind"] == {"other": 1}


def test_dismissed_pairs_never_come_back_and_threshold():
    gold = make_gold_set(5, people=200, duplicates=20, lookalikes=10, strangers=5)
    cands, found = _match(gold)
    leads = {lead["leadId"]: lead for lead in gold.table + gold.new}
    first = found[0]
    again = score_candidates(cands.pairs, leads, dismissed=[(first.lead_b, first.lead_a)])
    assert (first.lead_a, first.lead_b) not in {(p.lead_a, p.lead_b) for p in again}
    assert len(again) == len(found) - 1
    assert all(p.score >= 0.99 for p in score_candidates(cands.pairs, leads, threshold=0.99))
    with pytest.raises(ValueError):
        score_candidates(cands.pairs, leads, threshold=1.5)
    by_rule = count_by_rule(found)
    assert set(by_rule) == {"phone", "name", "email_domain_surname", "company"}
    assert sum(by_rule.values()) >= len(found)


def test_big_blocks_are_skipped():
    table = [{"leadId": f"t{i:04d}", "firstName": f"P{chr(97 + i % 26)}{i}", "lastName": "X", "phone": "+4930999999"}
             for i in range(MAX_BLOCK + 5)]
    new = [{"leadId": "n1", "firstName": "Anna", "lastName": "Z", "phone": "+4930999999"}]
    cands = candidates_in_python(new, table)
    assert cands.pairs == {} and cands.skipped_keys == {"phone": 1}


def test_pair_of():
    assert pair_of("b", "a") == ("a", "b")
    with pytest.raises(ValueError):
        pair_of("a", "a")
