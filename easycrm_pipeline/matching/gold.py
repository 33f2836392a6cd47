"""A generated gold set for duplicate matching (issue 18's "done when"): a table of people, a new file holding the
same people written differently and look-alikes who are different people, and the true pairs.

Kinds of true duplicates (a new lead that is the same person as a table lead):

``second_email``     same name and company, another address (an alias at the company, or a free-mail one);
``typo``             one typo (substitution, deletion, transposition) in the first or the last name, another or no
                     email;
``missing_email``    no email at all, same name, the company or the phone known;
``changed_company``  same name, a new company and its address, the same (mobile) phone.

Every duplicate also gets the writing noise of real files at random: the phone written nationally or
internationally, the company with or without its legal form, names in another case.

Look-alikes (different people, must not be paired):

``same_name_other_company``  same first and last name as a table person, another company, email and phone;
``family_shared_phone``      same last name and phone as a table person, another first name and email.

Plus unrelated new people. Emails are unique across the set (a store holds one lead per email). Everything is drawn from a seeded ``random.Random``: the same seed gives the same set.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from easycrm_pipeline.matching.keys import company_key, name_part

FIRST = ("Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hans", "Ines", "Jonas", "Klara", "Lukas", "Mia",
         "Noah", "Olga", "Paul", "Rosa", "Simon", "Tina", "Uwe", "Vera", "Walter", "Xenia", "Yusuf", "Zoe", "Olivia",
         "James", "Sophia", "William", "Isabella", "Lucas", "Amelia", "Henry", "Charlotte", "Jack", "Harper", "Leo",
         "Chloé", "Hugo", "Léa", "Louis", "Manon", "Jules", "Camille", "Diego", "Lucía", "Mateo", "Sofía", "Pablo",
         "Elena", "Marco", "Giulia", "Sven", "Ingrid", "Piotr", "Agnieszka", "Kenji", "Yuki", "Ravi", "Priya")
LAST = ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann",
        "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
        "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
        "Fernández", "López", "González", "Pérez", "Sánchez", "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi",
        "Andersson", "Johansson", "Nowak", "Kowalski", "Tanaka", "Suzuki", "Sharma", "Patel", "O'Brien", "Murphy",
        "Kelly", "Walsh", "Novak", "Horvat", "Jansen", "de Vries", "Bakker", "Visser", "Nielsen", "Hansen",
        "Lindqvist", "Bergström", "Kaufmann", "Zimmermann", "Krüger", "Hartmann", "Lange", "Schmitt", "Werner",
        "Krause", "Lehmann", "Köhler", "Herrmann", "König", "Walter", "Mayer", "Huber", "Kaiser", "Fuchs", "Peters")
COMPANY_WORDS = ("Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay", "Soylent", "Tyrell",
                 "Cyberdyne", "Wonka", "Gringotts", "Oscorp", "Aperture", "Black Mesa", "Nakatomi", "Dunder",
                 "Pied Piper", "Massive", "Blue Sun", "Monarch", "Virtucon", "Prestige", "Bluth", "Krusty", "Paper",
                 "Sterling", "Cooper", "Draper", "Oceanic", "Dharma", "Abstergo", "Rekall", "Weyland", "Yutani",
                 "Zorg", "Omni", "Delos", "Lacuna")
COMPANY_TAILS = ("Logistics", "Software", "Consulting", "Foods", "Energy", "Labs", "Media", "Systems", "Retail",
                 "Health", "Finance", "Motors", "Textiles", "Robotics", "Analytics", "Partners")
LEGAL = ("GmbH", "AG", "Inc.", "Ltd", "LLC", "SARL", "S.L.", "B.V.", "")
FREE = ("gmail.com", "yahoo.com", "outlook.com", "gmx.de", "web.de", "icloud.com")
TITLES = ("CEO", "CTO", "Head of Sales", "Buyer", "Account Manager", "Engineer", "Office Manager", "Consultant")
DUPLICATE_KINDS = ("second_email", "typo", "missing_email", "changed_company")
LOOKALIKE_KINDS = ("same_name_other_company", "family_shared_phone")


@dataclass
class GoldSet:
    """Attributes:
        table: the leads already stored (dicts with ``leadId`` and the ``leads`` columns).
        new: the leads of the new file (same shape; their ids differ from the table's).
        pairs: the true pairs ``(new leadId, table leadId)`` (each person has one duplicate at most).
        kinds: ``{new leadId: kind}`` of every duplicate and look-alike (``DUPLICATE_KINDS``/``LOOKALIKE_KINDS``).
    """

    table: list[dict[str, Any]] = field(default_factory=list)
    new: list[dict[str, Any]] = field(default_factory=list)
    pairs: set[tuple[str, str]] = field(default_factory=set)
    kinds: dict[str, str] = field(default_factory=dict)


def _slug(text: str) -> str:
    return name_part(text)


class _Maker:
    def __init__(self, rnd: random.Random) -> None:
        self.rnd = rnd
        self.n = 0
        self.used_phones: set[str] = set()
        #: (full name, company) of every person made: two people never share both by accident
        self.used_names: set[tuple[str, str]] = set()

    def lead_id(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}-{self.n:07d}"

    def company(self) -> tuple[str, str]:
        name = f"{self.rnd.choice(COMPANY_WORDS)} {self.rnd.choice(COMPANY_TAILS)}"
        domain = _slug(name) + self.rnd.choice((".com", ".de", ".fr", ".io"))
        return name, domain

    def claim(self, first: str, last: str, company: str) -> bool:
        """Reserve a (name, company) combination; False when some person already has it."""
        key = (_slug(first) + " " + _slug(last), company_key(company))
        if key in self.used_names:
            return False
        self.used_names.add(key)
        return True

    def phone(self) -> str:
        while True:
            national = f"{self.rnd.choice(('30', '40', '89', '151', '160', '170', '221'))}{self.rnd.randrange(10**6, 10**8)}"
            if national not in self.used_phones:
                self.used_phones.add(national)
                return "+49" + national

    def person(self, prefix: str) -> dict[str, Any]:
        while True:
            first, last = self.rnd.choice(FIRST), self.rnd.choice(LAST)
            company, domain = self.company()
            if self.claim(first, last, company):
                break
        legal = self.rnd.choice(LEGAL)
        return {
            "leadId": self.lead_id(prefix), "firstName": first, "lastName": last,
            "title": self.rnd.choice(TITLES), "company": f"{company} {legal}".strip(),
            "email": f"{_slug(first)}.{_slug(last)}@{domain}",
            "phone": self.phone() if self.rnd.random() < 0.8 else None, "remarks": None,
            "_domain": domain, "_company": company,
        }


def _typo(rnd: random.Random, word: str) -> str:
    """``word`` with one typo at a random position after the first letter (a substitution, a deletion or a swap)."""
    if len(word) < 4:
        return word + rnd.choice("aeinrst")
    i = rnd.randrange(1, len(word) - 1)
    kind = rnd.choice(("sub", "del", "swap"))
    if kind == "sub":
        return word[:i] + rnd.choice([c for c in "aeiounrstl" if c != word[i].lower()]) + word[i + 1:]
    if kind == "del":
        return word[:i] + word[i + 1:]
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]


def _noise(rnd: random.Random, lead: dict[str, Any]) -> None:
    """The writing noise of real files: national phone, company without legal form, upper-case last name."""
    if lead.get("phone") and rnd.random() < 0.4:
        lead["phone"] = "0" + lead["phone"][3:]
    if lead.get("company") and rnd.random() < 0.3:
        lead["company"] = lead["_company"]
    if rnd.random() < 0.2:
        lead["lastName"] = lead["lastName"].upper()


def _duplicate(m: _Maker, base: dict[str, Any], kind: str) -> dict[str, Any]:
    rnd = m.rnd
    dup = dict(base, leadId=m.lead_id("new"), title=rnd.choice((base["title"], rnd.choice(TITLES))))
    first, last = _slug(base["firstName"]), _slug(base["lastName"])
    if kind == "second_email":
        dup["email"] = rnd.choice((f"{first[0]}{last}@{base['_domain']}",
                                   f"{first}.{last}{rnd.randrange(1, 99)}@{rnd.choice(FREE)}",
                                   f"{first}{rnd.randrange(1950, 2005)}@{rnd.choice(FREE)}"))
    elif kind == "typo":
        if rnd.random() < 0.5:
            dup["firstName"] = _typo(rnd, base["firstName"])
        else:
            dup["lastName"] = _typo(rnd, base["lastName"])
        dup["email"] = rnd.choice((None, f"{first}{rnd.randrange(1, 999)}@{rnd.choice(FREE)}"))
    elif kind == "missing_email":
        dup["email"] = None
        if base.get("phone") and rnd.random() < 0.4:
            dup["company"] = None
    elif kind == "changed_company":
        company, domain = m.company()
        while not m.claim(base["firstName"], base["lastName"], company):
            company, domain = m.company()
        dup.update(company=company, _company=company, _domain=domain, email=f"{first}.{last}@{domain}",
                   phone=base.get("phone") or m.phone())
        if not base.get("phone"):  # nothing left in common but the name: give the table lead the phone too
            base["phone"] = dup["phone"]
    _noise(rnd, dup)
    return dup


def _lookalike(m: _Maker, base: dict[str, Any], kind: str) -> dict[str, Any]:
    other = m.person("new")
    if kind == "same_name_other_company":
        while not m.claim(base["firstName"], base["lastName"], other["company"]):
            other["_company"], other["_domain"] = m.company()
            other["company"] = other["_company"]
        other.update(firstName=base["firstName"], lastName=base["lastName"])
        first, last = _slug(base["firstName"]), _slug(base["lastName"])
        other["email"] = f"{first}.{last}@{other['_domain']}"
    else:  # family member: same surname and home phone, another first name
        firsts = [f for f in FIRST if f != base["firstName"] and f[0] != base["firstName"][0]]
        while True:
            first = m.rnd.choice(firsts)
            if m.claim(first, base["lastName"], other["company"]):
                break
        other.update(firstName=first, lastName=base["lastName"], phone=base.get("phone") or m.phone())
        if not base.get("phone"):
            base["phone"] = other["phone"]
        other["email"] = f"{_slug(other['firstName'])}.{_slug(base['lastName'])}@{m.rnd.choice(FREE)}"
    return other


def make_gold_set(seed: int, *, people: int = 3000, duplicates: int = 400, lookalikes: int = 200,
                  strangers: int = 200) -> GoldSet:
    """Generate a :class:`GoldSet`.

    Args:
        seed: the random seed.
        people: leads in the table.
        duplicates: new leads that are table people (spread evenly over :data:`DUPLICATE_KINDS`).
        lookalikes: new leads that resemble table people but are others (spread over :data:`LOOKALIKE_KINDS`).
        strangers: new leads unrelated to anyone.

    Raises:
        ValueError: more duplicates and look-alikes than people (each table person is used once at most).
    """
    if duplicates + lookalikes > people:
        raise ValueError("need at least as many people as duplicates and look-alikes")
    rnd = random.Random(seed)
    m = _Maker(rnd)
    gold = GoldSet(table=[m.person("old") for _ in range(people)])
    chosen = rnd.sample(range(people), duplicates + lookalikes)
    for i, idx in enumerate(chosen[:duplicates]):
        base = gold.table[idx]
        dup = _duplicate(m, base, DUPLICATE_KINDS[i % len(DUPLICATE_KINDS)])
        gold.new.append(dup)
        gold.pairs.add((dup["leadId"], base["leadId"]))
        gold.kinds[dup["leadId"]] = DUPLICATE_KINDS[i % len(DUPLICATE_KINDS)]
    for i, idx in enumerate(chosen[duplicates:]):
        other = _lookalike(m, gold.table[idx], LOOKALIKE_KINDS[i % len(LOOKALIKE_KINDS)])
        gold.new.append(other)
        gold.kinds[other["leadId"]] = LOOKALIKE_KINDS[i % len(LOOKALIKE_KINDS)]
    gold.new.extend(m.person("new") for _ in range(strangers))
    rnd.shuffle(gold.new)
    seen: set[str] = set()
    for lead in gold.table + gold.new:
        lead.pop("_domain", None)
        lead.pop("_company", None)
        email = lead.get("email")
        if email in seen:  # emails are unique in a store (exact-email dedupe): number a drawn twice address
            local, _, domain = email.partition("@")
            k = 2
            while f"{local}{k}@{domain}" in seen:
                k += 1
            lead["email"] = email = f"{local}{k}@{domain}"
        if email:
            seen.add(email)
    return gold


def evaluate(gold: GoldSet, found: list[tuple[str, str]]) -> dict[str, Any]:
    """Precision and recall of ``found`` pairs (either order) against ``gold.pairs``.

    Returns:
        ``{"true_pairs", "found", "true_positives", "precision", "recall", "missed_by_kind", "false_by_kind"}``
        (``false_by_kind`` counts false pairs by the kind of their new lead, ``"other"`` when it has none).
    """
    truth = {frozenset(p) for p in gold.pairs}
    got = {frozenset(p) for p in found}
    tp = truth & got
    missed: dict[str, int] = {}
    for pair in truth - got:
        new_id = next(i for i in pair if i.startswith("new-"))
        missed[gold.kinds[new_id]] = missed.get(gold.kinds[new_id], 0) + 1
    false: dict[str, int] = {}
    for pair in got - truth:
        kind = next((gold.kinds[i] for i in pair if i in gold.kinds), "other")
        false[kind] = false.get(kind, 0) + 1
    return {
        "true_pairs": len(truth), "found": len(got), "true_positives": len(tp),
        "precision": len(tp) / len(got) if got else 1.0, "recall": len(tp) / len(truth) if truth else 1.0,
        "missed_by_kind": missed, "false_by_kind": false,
    }
