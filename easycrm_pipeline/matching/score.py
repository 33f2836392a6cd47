"""Score a candidate pair of leads: how likely are they the same person, and why (issue 18).

The method is a Fellegi-Sunter style sum of evidence weights (log2 Bayes factors: how much more often a field agrees
this way for the same person than for two different people who share a blocking key), turned into a probability by
the logistic function: ``score = 1 / (1 + 2 ** -(PRIOR + sum(weights)))``. The weights are set by hand from what the
fields mean here, not fitted (Splink would estimate them with EM over the whole table, which is the batch work this
project avoids on every ingest); string similarity is ``rapidfuzz``'s Jaro-Winkler (names, email local parts) and
token-set ratio (companies).

What they encode:

* a name must agree: a different first name (family members sharing a phone and a surname) or last name weighs
  heavily against; a near miss (Jaro-Winkler >= 0.92, or one typo) counts almost as much as an exact match;
* the name alone is not enough (the same name at another company is another person): a second field has to agree —
  the phone (strongest), the company, a distinctive email local part, or a corporate email domain;
* a different email is no evidence against (finding the same person under another email is the point); an email
  local part made of the person's own name (``anna.mueller@``) is weak evidence: everybody called Anna Müller has
  one;
* a missing value is no evidence either way.

Nothing here imports DuckDB or Dagster.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, JaroWinkler

from easycrm_pipeline.matching.keys import company_key, email_parts, fold, name_part, phone_key

#: log2 of the prior odds that two leads sharing a blocking key are the same person.
PRIOR = -6.0
#: Pairs at or above this score are recorded as possible duplicates (a total weight of at least +2).
DEFAULT_THRESHOLD = 0.8
#: Jaro-Winkler similarity from which two names count as "similar"; one typo (an optimal-string-alignment edit:
#: substitution, insertion, deletion, swap of neighbours) in a name of 4+ letters counts too (Jaro-Winkler is harsh on
#: short names: ``David``/``Divid`` is 0.87).
NAME_SIMILAR = 0.92
#: Jaro-Winkler similarity from which two email local parts count as "similar".
LOCAL_SIMILAR = 0.9
#: rapidfuzz token-set ratio (0-100) from which two companies count as "similar".
COMPANY_SIMILAR = 90.0

#: Free-mail domains: sharing one says nothing about a person.
FREE_MAIL: frozenset[str] = frozenset({
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.de", "yahoo.fr", "hotmail.com", "hotmail.de", "hotmail.fr",
    "outlook.com", "live.com", "msn.com", "icloud.com", "me.com", "aol.com", "gmx.de", "gmx.net", "gmx.com",
    "web.de", "t-online.de", "freenet.de", "orange.fr", "free.fr", "laposte.net", "proton.me", "protonmail.com",
    "mail.com", "yandex.com", "zoho.com",
})

#: ``{field: {level: weight}}``: the evidence weights (log2 Bayes factors).
WEIGHTS: dict[str, dict[str, float]] = {
    "firstName": {"exact": 3.0, "similar": 2.0, "initial": 1.0, "different": -6.0},
    "lastName": {"exact": 4.0, "similar": 3.0, "different": -5.0},
    "phone": {"exact": 5.0, "different": -1.0},
    "email": {"same": 8.0, "same_local_part": 4.0, "similar_local_part": 2.0, "name_local_part": 0.5,
              "same_corporate_domain": 1.0},
    "company": {"exact": 2.5, "similar": 1.5, "different": -1.5},
    "title": {"exact": 0.5},
}


@dataclass
class PairScore:
    """The verdict on one pair.

    Attributes:
        score: probability-like 0..1 (rounded to 4 places) that both leads are the same person.
        weight: the log2 odds behind it (``PRIOR`` + the evidence weights).
        evidence: ``[{"field", "how", "weight", ...}]``: every field that agreed or disagreed and how
            (``how`` is a level of :data:`WEIGHTS`; ``similarity`` is added for fuzzy levels).
    """

    score: float
    weight: float
    evidence: list[dict[str, Any]] = field(default_factory=list)

    @property
    def agreed(self) -> list[str]:
        """The fields with positive evidence, in :data:`WEIGHTS` order."""
        return [e["field"] for e in self.evidence if e["weight"] > 0]


def _level(evidence: list[dict], name: str, how: str, **extra: Any) -> None:
    evidence.append({"field": name, "how": how, "weight": WEIGHTS[name][how], **extra})


def _similar_names(a: str, b: str) -> tuple[bool, float]:
    """``(similar, Jaro-Winkler similarity)`` of two different names (see :data:`NAME_SIMILAR`)."""
    sim = JaroWinkler.normalized_similarity(a, b)
    return sim >= NAME_SIMILAR or (min(len(a), len(b)) >= 4 and OSA.distance(a, b) <= 1), sim


def _first_name(a: str, b: str, evidence: list[dict]) -> None:
    if not a or not b:
        return
    if a == b:
        _level(evidence, "firstName", "exact")
    elif (len(a) == 1 or len(b) == 1) and a[0] == b[0]:
        _level(evidence, "firstName", "initial")
    else:
        similar, sim = _similar_names(a, b)
        if similar:
            _level(evidence, "firstName", "similar", similarity=round(sim, 3))
        else:
            _level(evidence, "firstName", "different", similarity=round(sim, 3))


def _last_name(a: str, b: str, evidence: list[dict]) -> None:
    if not a or not b:
        return
    if a == b:
        _level(evidence, "lastName", "exact")
        return
    similar, sim = _similar_names(a, b)
    _level(evidence, "lastName", "similar" if similar else "different", similarity=round(sim, 3))


#: How surnames are written in email addresses when the address cannot hold the letter (``Müller`` -> ``mueller``).
TRANSLITERATIONS = {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "æ": "ae", "ø": "oe", "å": "aa", "œ": "oe"}


def surname_forms(last: Any) -> set[str]:
    """The ways a surname appears in an email local part: folded (``muller``) and transliterated (``mueller``);
    forms shorter than 2 letters are left out."""
    text = str(last or "").lower()
    translit = "".join(TRANSLITERATIONS.get(ch, ch) for ch in text)
    return {form for form in (name_part(text), name_part(translit)) if len(form) >= 2}


@dataclass(frozen=True)
class Features:
    """A lead's values as the comparisons need them, computed once per lead (:func:`features`)."""

    first: str
    last: str
    phone: str
    local: str
    domain: str
    company_key: str
    company: str
    title: str
    surnames: frozenset[str]


def features(lead: Mapping[str, Any]) -> Features:
    """The :class:`Features` of a lead (a dict with the ``leads`` columns; missing keys are unknown)."""
    local, domain = email_parts(lead.get("email"))
    return Features(
        first=name_part(lead.get("firstName")), last=name_part(lead.get("lastName")),
        phone=phone_key(lead.get("phone")), local=local, domain=domain,
        company_key=company_key(lead.get("company")), company=fold(lead.get("company")),
        title=fold(lead.get("title")), surnames=frozenset(surname_forms(lead.get("lastName"))),
    )


def _email(a: Features, b: Features, evidence: list[dict]) -> None:
    if not a.local or not b.local:
        return
    if (a.local, a.domain) == (b.local, b.domain):
        _level(evidence, "email", "same")
        return
    # a local part holding the person's surname (anna.mueller@, amueller@) is what anyone of that name would have
    letters = "".join(ch for ch in a.local if ch.isalpha())
    from_name = any(s in letters for s in a.surnames | b.surnames)
    if a.local == b.local:
        _level(evidence, "email", "name_local_part" if from_name else "same_local_part")
    elif not from_name:
        sim = JaroWinkler.normalized_similarity(a.local, b.local)
        if sim >= LOCAL_SIMILAR:
            _level(evidence, "email", "similar_local_part", similarity=round(sim, 3))
    if a.domain == b.domain and a.domain not in FREE_MAIL:
        _level(evidence, "email", "same_corporate_domain")


def _company(a: Features, b: Features, evidence: list[dict]) -> None:
    if not a.company_key or not b.company_key:
        return
    if a.company_key == b.company_key:
        _level(evidence, "company", "exact")
        return
    sim = fuzz.token_set_ratio(a.company, b.company)
    _level(evidence, "company", "similar" if sim >= COMPANY_SIMILAR else "different", similarity=round(sim, 1))


def score_features(a: Features, b: Features) -> PairScore:
    """:func:`score_pair` on precomputed :class:`Features` (what scoring many pairs uses)."""
    evidence: list[dict[str, Any]] = []
    _first_name(a.first, b.first, evidence)
    _last_name(a.last, b.last, evidence)
    if a.phone and b.phone:
        _level(evidence, "phone", "exact" if a.phone == b.phone else "different")
    _email(a, b, evidence)
    _company(a, b, evidence)
    if a.title and a.title == b.title:
        _level(evidence, "title", "exact")
    weight = PRIOR + sum(e["weight"] for e in evidence)
    return PairScore(score=round(1.0 / (1.0 + math.pow(2.0, -weight)), 4), weight=weight, evidence=evidence)


def score_pair(a: Mapping[str, Any], b: Mapping[str, Any]) -> PairScore:
    """How likely leads ``a`` and ``b`` (dicts with the ``leads`` columns) are the same person.

    Args:
        a, b: leads; missing keys and ``None`` values are "unknown" (no evidence).

    Returns:
        :class:`PairScore` (``score`` 0..1, the evidence list).
    """
    return score_features(features(a), features(b))
