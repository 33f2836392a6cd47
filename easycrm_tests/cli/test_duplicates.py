"""``easycrm duplicates / merge / dismiss / undo --merge``: JSON documents, text output, exit codes."""
import json

import pytest

from easycrm_pipeline.cli.main import main
from easycrm_pipeline.config import get_settings
from easycrm_pipeline.pipeline.collect import open_store
from easycrm_pipeline.pipeline.duplicates import detect_duplicates
from easycrm_tests.store.helpers import lead


@pytest.fixture
def seeded():
    """Anna twice (another email), Ben once; the pair recorded. Returns ``(anna, anna2, ben)`` lead ids."""
    store = open_store(get_settings())
    store.upsert_file([lead(2, firstName="Anna", lastName="Müller", company="Acme GmbH", email="anna@acme.de",
                            phone="+4930123456"),
                       lead(3, firstName="Ben", lastName="Weber", company="Globex", email="ben@globex.com")],
                      source_file="a.csv", run_id="run-a")
    store.upsert_file([lead(2, firstName="Anna", lastName="Müller", company="Acme", email="anna77@gmail.com",
                            title="CEO")], source_file="b.csv", run_id="run-b")
    detect_duplicates(store, run_id="run-b", source_file="b.csv")
    ids = {x["email"]: x["leadId"] for x in store.all_leads()}
    return ids["anna@acme.de"], ids["anna77@gmail.com"], ids["ben@globex.com"]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_duplicates_merge_undo_dismiss(seeded, capsys):
    anna, anna2, ben = seeded
    code, out, _ = run(capsys, "duplicates", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["total"] == 1 and doc["minScore"] == 0.0
    pair = doc["pairs"][0]
    assert {pair["leadA"], pair["leadB"]} == {anna, anna2} and pair["rules"] == ["name", "company"]
    assert {pair["a"]["email"], pair["b"]["email"]} == {"anna@acme.de", "anna77@gmail.com"}
    assert json.loads(run(capsys, "duplicates", "--min-score", "0.999", "--json")[1])["total"] == 0
    code, out, _ = run(capsys, "duplicates")
    assert code == 0 and anna in out and "company exact" in out

    code, out, _ = run(capsys, "merge", anna, anna2, "--dry-run", "--json")
    dry = json.loads(out)
    assert code == 0 and dry["dryRun"] and dry["mergeId"] is None and dry["lead"]["title"] == "CEO"
    code, out, _ = run(capsys, "merge", anna, anna2, "--json")
    merged = json.loads(out)
    assert code == 0 and merged["keep"] == anna and merged["other"] == anna2 and merged["mergeId"]
    assert merged["changed"]["title"] == {"before": None, "after": "CEO"}
    assert "Other email: anna77@gmail.com" in merged["lead"]["remarks"]
    assert json.loads(run(capsys, "duplicates", "--json")[1])["total"] == 0
    code, out, _ = run(capsys, "undo", "--merge", anna, "--json")
    back = json.loads(out)
    assert code == 0 and back["undone"] and back["mergeId"] == merged["mergeId"]
    assert json.loads(run(capsys, "duplicates", "--json")[1])["total"] == 1
    code, _, err = run(capsys, "undo", "--merge", anna)
    assert code == 2 and err.startswith("easycrm undo: no merge into lead")

    code, out, _ = run(capsys, "dismiss", anna2, anna, "--json")
    assert code == 0 and json.loads(out) == {"leadA": min(anna, anna2), "leadB": max(anna, anna2), "dismissed": True}
    assert json.loads(run(capsys, "duplicates", "--json")[1])["total"] == 0
    code, out, _ = run(capsys, "dismiss", anna, anna2)
    assert code == 0 and "already dismissed" in out


def test_duplicates_pages(seeded, capsys):
    """``duplicates --page N --page-size M``: one page of the pairs, ``total`` counts them all."""
    store = open_store(get_settings())
    store.upsert_file([lead(5, firstName="Ben", lastName="Weber", company="Globex", email="ben.weber@gmail.com")],
                      source_file="c.csv", run_id="run-c")
    detect_duplicates(store, run_id="run-c", source_file="c.csv")
    everything = json.loads(run(capsys, "duplicates", "--json")[1])
    assert everything["total"] == 2 and len(everything["pairs"]) == 2
    pages = [json.loads(run(capsys, "duplicates", "--page", str(n), "--page-size", "1", "--json")[1]) for n in (1, 2, 3)]
    assert [len(p["pairs"]) for p in pages] == [1, 1, 0] and {p["total"] for p in pages} == {2}
    assert [p["pairs"][0] for p in pages[:2]] == everything["pairs"]
    code, out, _ = run(capsys, "duplicates", "--page", "2", "--page-size", "1")
    assert code == 0 and "possible duplicates: 2 (page 2: 2-2)" in out
    code, out, _ = run(capsys, "duplicates", "--page", "3", "--page-size", "1")
    assert code == 0 and out.strip() == "page 3 is past the last page (2 pairs)"


@pytest.mark.parametrize("argv, message", [
    (["merge", "x", "x"], "easycrm merge: KEEP and OTHER are the same lead"),
    (["merge", "nope", "{ben}"], "easycrm merge: no lead with leadId 'nope'"),
    (["dismiss", "{ben}", "nope"], "easycrm dismiss: no lead with leadId 'nope'"),
    (["duplicates", "--min-score", "2"], "easycrm duplicates: --min-score must be between 0 and 1, got 2.0"),
    (["duplicates", "--page", "0"], "easycrm duplicates: page must be 1 or more, got 0"),
    (["duplicates", "--page-size", "101"], "easycrm duplicates: page_size must be between 1 and 100, got 101"),
    (["undo"], "easycrm undo: name the FILE whose import to undo (or --merge KEEP to undo a merge)"),
    (["undo", "a.csv", "--merge", "{ben}"], "easycrm undo: give FILE or --merge KEEP, not both"),
])
def test_bad_input_is_exit_2_with_one_line(seeded, capsys, argv, message):
    _anna, _anna2, ben = seeded
    code, out, err = run(capsys, *[a.format(ben=ben) for a in argv])
    assert code == 2 and err.strip() == message and out == ""
