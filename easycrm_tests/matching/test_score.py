"""Pair scores: one example per kind of the issue (true duplicates above the threshold, look-alikes below), and
the evidence says which fields agreed and how."""
import pytest

from easycrm_pipeline.matching.score import DEFAULT_THRESHOLD, score_pair

ANNA = {"firstName": "Anna", "lastName": "Müller", "title": "Buyer", "company": "Acme Logistics GmbH",
        "email": "anna.mueller@acme.de", "phone": "+4930123456"}


def how(verdict):
    return {(e["field"], e["how"]) for e in verdict.evidence}


@pytest.mark.parametrize("other, expected", [
    # second email, same company
    (dict(ANNA, email="a.mueller@gmail.com", phone=None), {("firstName", "exact"), ("company", "exact")}),
    # typo'd name, no email, national phone
    (dict(ANNA, lastName="Mülller", email=None, phone="030123456"), {("lastName", "similar"), ("phone", "exact")}),
    (dict(ANNA, firstName="Amna", email=None, phone=None), {("firstName", "similar"), ("company", "exact")}),
    # missing email, company without legal form
    (dict(ANNA, email=None, phone=None, company="ACME Logistics"), {("company", "exact")}),
    # changed company, same mobile phone
    (dict(ANNA, company="Globex AG", email="anna.mueller@globex.com"), {("phone", "exact"), ("company", "different")}),
])
def test_same_person_scores_above_threshold(other, expected):
    verdict = score_pair(ANNA, other)
    assert verdict.score >= DEFAULT_THRESHOLD, verdict
    assert expected <= how(verdict)


@pytest.mark.parametrize("other", [
    # same name at another company: another person
    dict(ANNA, company="Globex AG", email="anna.mueller@globex.com", phone="+4940999888"),
    dict(ANNA, company="Globex AG", email="anna.mueller@globex.com", phone=None, title="CEO"),
    # family member sharing the phone (and even the company)
    dict(ANNA, firstName="Jonas", email="jonas.mueller@gmail.com"),
    dict(ANNA, firstName="Jonas", email="jonas.mueller@acme.de"),
    # the name alone
    {"firstName": "Anna", "lastName": "Müller"},
])
def test_look_alikes_score_below_threshold(other):
    verdict = score_pair(ANNA, other)
    assert verdict.score < DEFAULT_THRESHOLD, verdict


def test_evidence_shape_and_symmetry():
    other = dict(ANNA, email="amueller@acme.de", phone=None)
    verdict = score_pair(ANNA, other)
    assert verdict.score == score_pair(other, ANNA).score
    assert 0 < verdict.score < 1
    for e in verdict.evidence:
        assert set(e) >= {"field", "how", "weight"}
    assert ("email", "name_local_part") not in how(verdict)  # local parts differ
    assert ("email", "same_corporate_domain") in how(verdict)
    assert verdict.agreed == ["firstName", "lastName", "email", "company", "title"]


def test_distinctive_local_part_counts_more_than_a_name_based_one():
    a = dict(ANNA, email="kiwi77@acme.de", company=None, phone=None, title=None)
    b = dict(ANNA, email="kiwi77@gmail.com", company=None, phone=None, title=None)
    assert ("email", "same_local_part") in how(score_pair(a, b))
    assert score_pair(a, b).score >= DEFAULT_THRESHOLD
    c = dict(a, email="anna.mueller@acme.de")
    d = dict(b, email="anna.mueller@gmail.com")
    assert ("email", "name_local_part") in how(score_pair(c, d))
    assert score_pair(c, d).score < DEFAULT_THRESHOLD
