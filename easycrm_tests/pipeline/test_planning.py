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
