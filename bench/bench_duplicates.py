"""Issue 18's measures: duplicate matching against a 1,000,000-lead DuckDB table, and the gold set's precision/recall
through the DuckDB path.

* :func:`build_table`: ``n`` made-up leads inserted by ONE SQL statement (``range(n)``; names, companies, emails and
  phones drawn by ``hash(i)`` from the gold set's lists plus made-up surnames: ~100,000 full names, ~13,000
  companies, unique emails and phones), seconds for 1,000,000 rows.
* :func:`add_file`: a 1,000-lead file upserted as run ``bench-run`` (``upsert_file``, the ingest's own write): 800
  new people and 200 table people written again without email, under another address, with a typo.
* ``python bench/bench_duplicates.py match DB``: in a fresh process, ``detect_duplicates`` for that run (what the
  ``possible_duplicates`` asset does after the upsert); prints ``{"seconds", "pairs", "candidates", "rss_before_mb",
  "peak_rss_mb"}`` (peak = ``VmHWM`` of the process: interpreter, DuckDB, pandas, rapidfuzz and the
  matching).
* :func:`gold_on_duckdb`: the gold set (``matching/gold.py``, seed 1018, 20,000 people) loaded into DuckDB, its new
  leads matched with the store's SQL blocking, precision and recall of the recorded pairs.
"""
from __future__ import annotations

import json
import random
import resource
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from easycrm_pipeline.matching.gold import COMPANY_TAILS, COMPANY_WORDS, FIRST, LAST, LEGAL, TITLES  # noqa: E402

RUN_ID = "bench-run"
_SYLLABLES = ("ber", "man", "stein", "berg", "ski", "son", "ell", "ard", "ini", "ez", "ova", "quist", "hart", "wald",
              "feld", "dorf", "ton", "ley", "ford", "ham")
#: ~1,700 surnames: the gold set's, each also with one of 20 endings
SURNAMES = tuple(LAST) + tuple(f"{last}{syl}" for last in LAST for syl in _SYLLABLES)
REGIONS = ("Nord", "Süd", "West", "Ost", "Mitte", "Rhein", "Main", "Alpen", "Küste", "Berlin", "Hamburg", "Köln",
           "Paris", "Lyon", "Madrid", "Milano", "Wien", "Zürich", "Praha", "Oslo")


def _sql_list(values) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def build_table(db: Path, n: int) -> float:
    """Create ``db`` with ``n`` leads (one INSERT ... SELECT over ``range(n)``); returns the seconds it took."""
    from easycrm_pipeline.store.duckdb_store import DuckDBStore

    t = time.perf_counter()
    store = DuckDBStore(db)
    store.init()
    first, last = _sql_list(FIRST), _sql_list(SURNAMES)
    words, tails, regions = _sql_list(COMPANY_WORDS), _sql_list(COMPANY_TAILS), _sql_list(REGIONS)
    legal, titles = _sql_list([x for x in LEGAL if x]), _sql_list(TITLES)

    def pick(lst: str, size: int, salt: int) -> str:
        return f"{lst}[1 + (hash(i + {salt} * 1000003) % {size})::INTEGER]"

    import duckdb

    con = duckdb.connect(str(db))  # DuckDB's own threads for the build (the store's connections use one)
    try:
        con.execute(f"""
            INSERT INTO leads ("leadId", "firstName", "lastName", "title", "company", "email", "phone", "sourceFile",
                               "sourceRow", "sourceRowId", "createdAt", "updatedAt", "standardizer")
            SELECT 'T' || lpad(CAST(i AS VARCHAR), 8, '0'), f, l, {pick(titles, len(TITLES) - 0, 5)}, c,
                   lower(regexp_replace(strip_accents(f || '.' || l), '[^A-Za-z.]', '', 'g')) || '.' || i || '@'
                       || lower(regexp_replace(strip_accents(c), '[^A-Za-z]', '', 'g')) || '.com',
                   '+49' || CAST(1500000000 + i AS VARCHAR), 'table.csv', CAST(i AS INTEGER) + 2,
                   '0:' || CAST(i + 2 AS VARCHAR), now()::TIMESTAMP, now()::TIMESTAMP, 'rules-1'
            FROM (SELECT i, {pick(first, len(FIRST), 1)} AS f, {pick(last, len(SURNAMES), 2)} AS l,
                         {pick(words, len(COMPANY_WORDS), 3)} || ' ' || {pick(tails, len(COMPANY_TAILS), 4)} || ' '
                         || {pick(regions, len(REGIONS), 6)} || ' ' || {pick(legal, len(LEGAL) - 1, 7)} AS c
                  FROM range({n}) r(i))
        """)
    finally:
        con.close()
    return time.perf_counter() - t


def add_file(db: Path, n: int = 1000, seed: int = 18) -> dict:
    """Upsert an ``n``-lead file as run ``bench-run``: 80 % new people, 20 % table people written again (no email,
    another email, or a typo in the last name; same phone or company). Returns ``{"seconds", "created"}``."""
    from easycrm_pipeline.models import StandardLead
    from easycrm_pipeline.store.duckdb_store import DuckDBStore

    rnd = random.Random(seed)
    store = DuckDBStore(db)
    with store.read_connection() as con:
        total = con.execute("SELECT count(*) FROM leads").fetchall()[0][0]
        ids = [f"T{rnd.randrange(total):08d}" for _ in range(n // 5)]
        frame = pd.DataFrame({"leadId": ids})
        con.register("ids", frame)
        known = con.execute('SELECT "firstName", "lastName", "company", "phone", "title" FROM leads '
                            'WHERE "leadId" IN (SELECT "leadId" FROM ids)').fetchall()
        con.unregister("ids")
    rows = []
    for k, (first, last, company, phone, title) in enumerate(known):
        kind = k % 3
        email = None if kind == 0 else f"{first[0].lower()}{k}@gmail.com"
        if kind == 2:
            last = last[:2] + last[3:] if len(last) > 4 else last + "e"
        rows.append(dict(firstName=first, lastName=last, company=company if kind != 1 else None,
                         phone=phone if kind != 2 else None, title=title, email=email))
    while len(rows) < n:
        i = len(rows)
        first, last = rnd.choice(FIRST), rnd.choice(SURNAMES)
        rows.append(dict(firstName=first, lastName=last, company=f"{rnd.choice(COMPANY_WORDS)} Newco {i}",
                         phone=f"+4917{rnd.randrange(10**8, 10**9)}", title=rnd.choice(TITLES),
                         email=f"new{i}.{rnd.randrange(10**6)}@newco.example"))
    leads = [StandardLead(row_id=f"0:{i + 2}", sheet=None, row_number=i + 2,
                          fields={**dict.fromkeys(("firstName", "lastName", "title", "company", "email", "phone",
                                                   "remarks")), **r},
                          provided=frozenset(("firstName", "lastName", "title", "company", "email", "phone",
                                              "remarks")), raw={}, standardizer="rules-1")
             for i, r in enumerate(rows)]
    t = time.perf_counter()
    stats = store.upsert_file(leads, source_file="file_1k.csv", run_id=RUN_ID)
    return {"seconds": time.perf_counter() - t, "created": stats.created}


def _hwm_mb() -> float:
    """This process's peak RSS in MB: ``VmHWM`` (reset by ``exec``, unlike ``ru_maxrss``, which a child started by a
    big parent inherits), else ``getrusage``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def match(db: Path) -> dict:
    """``detect_duplicates`` for run ``bench-run`` on ``db`` (run in a fresh process: see the module docstring)."""
    from easycrm_pipeline.pipeline.duplicates import detect_duplicates
    from easycrm_pipeline.store.duckdb_store import DuckDBStore

    before = _hwm_mb()
    t, c = time.perf_counter(), time.process_time()
    result = detect_duplicates(DuckDBStore(db), run_id=RUN_ID, source_file="file_1k.csv")
    took = time.perf_counter() - t
    return {"seconds": took, "cpu_s": time.process_time() - c, "pairs": result.pairs_found, "candidates": result.candidates,
            "compared": result.leads_compared, "skipped_keys": result.skipped_keys, "by_rule": result.by_rule,
            "rss_before_mb": round(before, 1),
            "peak_rss_mb": round(_hwm_mb(), 1)}


def gold_on_duckdb(db: Path, seed: int = 1018, people: int = 20_000) -> dict:
    """Precision/recall of the gold set matched through the DuckDB store (SQL blocking + rapidfuzz scoring)."""
    from easycrm_pipeline.matching.gold import evaluate, make_gold_set
    from easycrm_pipeline.pipeline.duplicates import detect_duplicates
    from easycrm_pipeline.store.duckdb_store import DuckDBStore

    gold = make_gold_set(seed, people=people, duplicates=people // 10, lookalikes=people // 20,
                         strangers=people // 20)
    store = DuckDBStore(db)
    store.init()
    cols = ("leadId", "firstName", "lastName", "title", "company", "email", "phone")
    frame = pd.DataFrame([{c: lead.get(c) for c in cols} for lead in gold.table + gold.new])
    with store.write_connection() as con:
        con.register("gold_df", frame)
        con.execute(f"""INSERT INTO leads ({", ".join(f'"{c}"' for c in cols)}, "createdAt", "updatedAt")
                        SELECT {", ".join(f'CAST("{c}" AS VARCHAR)' for c in cols)}, now()::TIMESTAMP,
                               now()::TIMESTAMP FROM gold_df""")
        con.unregister("gold_df")
    t = time.perf_counter()
    result = detect_duplicates(store, run_id="gold", lead_ids=[lead["leadId"] for lead in gold.new])
    took = time.perf_counter() - t
    found = [(p["leadA"], p["leadB"]) for p in store.possible_duplicates()]
    out = evaluate(gold, found)
    out.update(seconds=took, candidates=result.candidates, table=len(gold.table), new=len(gold.new))
    return out


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "match":
        print(json.dumps(match(Path(sys.argv[2]))))
    else:
        raise SystemExit("usage: bench_duplicates.py match DB")
