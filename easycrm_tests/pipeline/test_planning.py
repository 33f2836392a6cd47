"""Which rows go to DeepSeek: cache hits, ``EASYCRM_LLM=auto``, repeated rows."""
from easycrm_pipeline.models import RawRow
from easycrm_pipeline.pipeline.planning import (
    CACHE_HIT_FLAG,
    cache_entry,
    cache_key,
    copy_answer,
    needs_llm,
    plan_rows,
)


def row(n, **cells):
    return RawRow(row_id=f"0:{n}", sheet=None, row_number=n, cells=tuple(cells.items()))


SPLIT = dict(zip(("First Name", "Last Name", "Email"), ("Ann", "Lee", "ann@example.com")))


def test_cache_key_depends_on_cells_and_version_not_position():
    a = row(2, **SPLIT)
    b = RawRow(row_id="1:9", sheet="S", row_number=9, cells=a.cells)
    assert cache_key(a, "v1") == cache_key(b, "v1")
    assert cache_key(a, "v1") != cache_key(a, "v2")
    assert cache_key(a, "v1") != cache_key(row(2, **{**SPLIT, "Email": "bo@example.com"}), "v1")


def test_needs_llm_only_for_what_the_rules_cannot_settle():
    assert not needs_llm(row(2, **SPLIT))
    assert needs_llm(row(2, **{"Full Name": "Dr. Maria del Carmen Ruiz-Vega", "Email": "m@example.es"}))
    assert needs_llm(row(2, **{"Email": "ann@example.com", "Company": "Acme"}))  # no name at all
    assert needs_llm(row(2, **{**SPLIT, "Favourite colour": "blue"}))  # an unmapped column with a value
    assert not needs_llm(row(2, **{**SPLIT, "Favourite colour": ""}))


def test_never_settles_every_row_with_the_rules():
    rows = [row(2, **SPLIT), row(3, **{"Full Name": "Bo Berg", "Email": "bo@example.com"})]
    plan = plan_rows(rows, llm_mode="never", version="v", default_region=None)
    assert plan.to_send == [] and plan.settled_by_rules == 2
    assert [lead.fields["email"] for lead in plan.settled] == ["ann@example.com", "bo@example.com"]


def test_auto_sends_only_unsettled_rows_and_always_sends_all():
    rows = [row(2, **SPLIT), row(3, **{"Full Name": "Bo Berg", "Email": "bo@example.com"})]
    auto = plan_rows(rows, llm_mode="auto", version="v", default_region=None)
    assert [r.row_id for r in auto.to_send] == ["0:3"]
    assert [lead.row_id for lead in auto.settled] == ["0:2"]
    always = plan_rows(rows, llm_mode="always", version="v", default_region=None)
    assert [r.row_id for r in always.to_send] == ["0:2", "0:3"] and always.settled == []


def test_cache_hits_are_settled_with_the_cached_values_and_not_sent():
    rows = [row(2, **SPLIT), row(3, **{**SPLIT, "Email": "cy@example.com"})]
    (cached,) = plan_rows(rows[:1], llm_mode="never", version="v", default_region=None).settled
    store = {cache_key(rows[0], "v"): cache_entry(cached)}
    asked = []

    def get(keys):
        asked.append(list(keys))
        return {k: store[k] for k in keys if k in store}

    plan = plan_rows(rows, llm_mode="always", version="v", default_region=None, cache_get=get)
    assert asked == [[cache_key(rows[0], "v"), cache_key(rows[1], "v")]]
    assert plan.cache_hits == 1 and [r.row_id for r in plan.to_send] == ["0:3"]
    (hit,) = plan.settled
    assert hit.row_id == "0:2" and hit.fields == cached.fields and CACHE_HIT_FLAG in hit.flags


def test_fallback_answers_are_never_cached():
    (lead,) = plan_rows([row(2, **SPLIT)], llm_mode="never", version="v", default_region=None).settled
    lead.flags = ("llm-missing-fallback",)
    assert cache_entry(lead) is None


def test_repeated_rows_are_sent_once_and_take_the_first_answer():
    first = row(2, **SPLIT)
    again = RawRow(row_id="0:7", sheet=None, row_number=7, cells=first.cells)
    plan = plan_rows([first, again], llm_mode="always", version="v", default_region=None)
    assert [r.row_id for r in plan.to_send] == ["0:2"]
    assert plan.copies == [(again, "0:2")]
    (answer,) = plan_rows([first], llm_mode="never", version="v", default_region=None).settled
    copied = copy_answer(answer, again)
    assert (copied.row_id, copied.row_number, copied.fields) == ("0:7", 7, answer.fields)


def mixed_rows(n: int) -> list[RawRow]:
    """Rows the rules settle, rows for DeepSeek, rows repeating earlier ones (near and far), cached rows."""
    out = []
    for k in range(n):
        number = k + 2
        if k % 5 == 0:  # the rules settle it in auto mode
            cells = {**SPLIT, "Email": f"p{k}@example.com"}
        elif k % 5 == 4:  # repeats a row for DeepSeek 3 or 12 rows back (12: always in an earlier block of 7)
            cells = dict(out[k - (3 if k % 2 or k < 12 else 12)].cells)
        elif k % 11 == 1:  # in the cache
            cells = {"Full Name": "Cached Person", "Email": "cached@example.com"}
        else:
            cells = {"Full Name": f"Person {k}", "Email": f"p{k}@example.com"}
        out.append(RawRow(f"0:{number}", None, number, tuple(cells.items())))
    return out


def test_a_file_planned_block_by_block_gives_the_plan_of_the_whole_file(tmp_path, monkeypatch):
    """``plan_file`` with blocks of 7 rows: the same settled leads, rows to send (file order), copies and counts
    as ``plan_rows`` on the whole list, for every mode; the first occurrence of a repeated row may be in an
    earlier block."""
    from easycrm_pipeline.pipeline import planning
    from easycrm_pipeline.pipeline.leadfile import iter_leads
    from easycrm_pipeline.pipeline.rowfile import read_rows

    rows = mixed_rows(60)
    (cached,) = plan_rows(rows[1:2], llm_mode="never", version="v", default_region=None).settled
    store = {cache_key(rows[1], "v"): cache_entry(cached)}
    monkeypatch.setattr(planning, "PLAN_BLOCK_ROWS", 7)
    for mode in ("always", "auto", "never"):
        asked = []

        def get(keys):
            asked.append(len(keys))
            return {k: store[k] for k in keys if k in store}

        whole = plan_rows(rows, llm_mode=mode, version="v", default_region=None, cache_get=get)
        asked.clear()
        out = tmp_path / mode
        settled, to_send, plan = planning.plan_file(iter(rows), out / "settled.parquet", out / "to_send.parquet",
                                                    llm_mode=mode, version="v", default_region=None, cache_get=get)
        assert (plan.settled, plan.to_send) == ([], [])
        assert (plan.cache_hits, plan.settled_by_rules, plan.copies) == (
            whole.cache_hits, whole.settled_by_rules, whole.copies)
        assert read_rows(to_send.path) == whole.to_send and to_send.rows == len(whole.to_send)
        leads = [lead for lead, batch in iter_leads(settled)]
        assert sorted(leads, key=lambda x: x.row_number) == sorted(whole.settled, key=lambda x: x.row_number)
        assert settled.leads == len(whole.settled)
        if mode != "never":
            assert max(asked) <= 7 and len(asked) == 9  # the cache is asked per block
            assert plan.cache_hits and whole.to_send
            assert any(row.row_number - int(source.partition(":")[2]) == 12 for row, source in plan.copies)
