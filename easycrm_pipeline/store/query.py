"""One query spec: :class:`~easycrm_pipeline.store.base.LeadQuery`'s filter and sort semantics written once, rendered
to SQL (DuckDB: :func:`to_sql`) or to Python (back ends that filter a scan: :func:`matches`, :func:`sort_rows`).

The semantics (docs/contracts.md, ``easycrm leads``):

* a column filter is a case-insensitive "contains" on its column (NULL is the empty text);
* ``phone`` also matches when the filter's digits are contained in the stored phone's digits; a ``phone`` filter
  starting with ``+`` is an E.164 prefix instead (:func:`phone_prefix`);
* ``search``: every whitespace-separated term is contained (case-insensitive) in at least one of ``SEARCH_FIELDS``;
* sort by ``q.sort`` (text case-insensitively), NULLs last in both directions, ties by ``sourceRow`` (NULLs last),
  then ``leadId``, both ascending.

Pure: no DuckDB, no boto3.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

from easycrm_pipeline.store.base import SEARCH_FIELDS, TEXT_SORT, LeadQuery


def phone_prefix(text: str | None) -> str | None:
    """The E.164 prefix a ``--phone`` filter stands for, or ``None`` when it is a plain "contains" filter.

    A filter starting with ``+`` (after trimming) is the start of an international number: ``+`` and its digits,
    separators dropped (``"+44 20"`` -> ``"+4420"``, ``"+1"`` -> ``"+1"``). The store matches it against the
    stored phone with everything but ``+`` and digits removed, a leading ``00`` read as ``+``, from the first
    character.
    """
    text = (text or "").strip()
    if not text.startswith("+"):
        return None
    return "+" + "".join(ch for ch in text if ch.isdigit())


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


@dataclass(frozen=True)
class Term:
    """One condition of a query; a lead matches a query when it matches every term.

    Attributes:
        kind: ``"contains"`` (``text`` contained case-insensitively in one of ``columns``), ``"phone"`` (contains,
            or ``digits`` contained in the stored phone's digits), ``"prefix"`` (the stored phone as E.164 starts
            with ``text``).
        columns: the columns looked in (one, or ``SEARCH_FIELDS`` for a search term).
        text: lower-cased filter text (``"prefix"``: the E.164 prefix).
        digits: the filter's digits (``"phone"`` only).
        raw: the filter text as given; the SQL rendering lower-cases it with the database's own ``lower()``, as it
            does the column (Python's and DuckDB's lower-casing differ on ``İ`` and a final ``Σ``).
    """

    kind: str
    columns: tuple[str, ...]
    text: str
    digits: str = ""
    raw: str = ""


def terms(q: LeadQuery) -> list[Term]:
    """The conditions of ``q`` (column filters, then search terms) in one list: the single table of semantics both
    renderings read."""
    out: list[Term] = []
    for col, text in q.column_filters().items():
        prefix = phone_prefix(text) if col == "phone" else None
        if prefix is not None:
            out.append(Term("prefix", (col,), prefix))
        elif col == "phone" and _digits(text):
            out.append(Term("phone", (col,), text.lower(), _digits(text), raw=text))
        else:
            out.append(Term("contains", (col,), text.lower(), raw=text))
    out.extend(Term("contains", SEARCH_FIELDS, word.lower(), raw=word) for word in (q.search or "").split())
    return out


# ---------------------------------------------------------------------------------------------------- SQL (DuckDB)

def _col(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql(term: Term) -> tuple[str, list[Any]]:
    if term.kind == "prefix":
        return ("starts_with(regexp_replace(regexp_replace(coalesce(\"phone\", ''), '[^0-9+]', '', 'g'), '^00', '+'), "
                "?)", [term.text])
    if term.kind == "phone":
        return ("(contains(lower(coalesce(\"phone\", '')), lower(?)) OR "
                "contains(regexp_replace(coalesce(\"phone\", ''), '[^0-9]', '', 'g'), ?))", [term.raw, term.digits])
    ors = " OR ".join(f"contains(lower(coalesce({_col(c)}, '')), lower(?))" for c in term.columns)
    return (f"({ors})" if len(term.columns) > 1 else ors), [term.raw] * len(term.columns)


def to_sql(q: LeadQuery) -> tuple[str, list[Any], str]:
    """``q`` as SQL over table ``leads`` (DuckDB dialect).

    Returns:
        ``(where, params, order)``: ``where`` is ``""`` or ``"WHERE ..."`` with ``?`` placeholders for
        ``params``; ``order`` is the ``ORDER BY`` expression list (without the keywords).
    """
    parts = [_sql(t) for t in terms(q)]
    where = ("WHERE " + " AND ".join(p[0] for p in parts)) if parts else ""
    params = [v for p in parts for v in p[1]]
    sort = f"lower({_col(q.sort)})" if q.sort in TEXT_SORT else _col(q.sort)
    order = f'{sort} {"DESC" if q.descending else "ASC"} NULLS LAST, "sourceRow" ASC NULLS LAST, "leadId" ASC'
    return where, params, order


# ---------------------------------------------------------------------------------------------------- Python

def _term_matches(term: Term, row: dict) -> bool:
    value = row.get(term.columns[0]) or ""
    if term.kind == "prefix":
        compact = "".join(ch for ch in value if ch == "+" or ch.isdigit())
        return ("+" + compact[2:] if compact.startswith("00") else compact).startswith(term.text)
    if term.kind == "phone":
        return term.text in value.lower() or term.digits in _digits(value)
    return any(term.text in (row.get(c) or "").lower() for c in term.columns)


def matches(q: LeadQuery) -> Callable[[dict], bool]:
    """A predicate ``row -> bool``: whether a lead dict (keys of ``LEAD_COLUMNS``) matches ``q``'s filters."""
    conditions = terms(q)
    return lambda row: all(_term_matches(t, row) for t in conditions)


def sort_rows(rows: Iterable[dict], q: LeadQuery) -> list[dict]:
    """``rows`` in ``q``'s order (the same order as :func:`to_sql`'s ``order``), as a new list."""
    ordered = sorted(rows, key=lambda r: (r.get("sourceRow") is None, r.get("sourceRow") or 0, r.get("leadId")))
    present = [r for r in ordered if r.get(q.sort) is not None]
    text = q.sort in TEXT_SORT
    present.sort(key=lambda r: r[q.sort].lower() if text else r[q.sort], reverse=q.descending)
    return present + [r for r in ordered if r.get(q.sort) is None]


__all__ = ["Term", "matches", "phone_prefix", "sort_rows", "terms", "to_sql"]
