"""DeepSeek's header mapping on parsed files (issue 15): one request per distinct header row, cached in the store's
standardization cache, every proposal checked against the cells; without a key nothing changes. Real parts only:
the CSV reader, the DuckDB store's cache, the DeepSeek client and the fake DeepSeek server on loopback."""
from __future__ import annotations

import json

import dagster as dg
import pytest

from easycrm_pipeline.config import get_settings
from easycrm_pipeline.cli.main import main
from easycrm_pipeline.parsing import read_file
from easycrm_pipeline.pipeline.cache import open_cache
from easycrm_pipeline.pipeline.collect import open_store
from easycrm_pipeline.pipeline.header_mapping import map_file_headers, unmapped_columns
from easycrm_pipeline.rules.standardize import standardize_rows
from easycrm_pipeline.store.base import LeadQuery
from easycrm_pipeline.testing.fake_deepseek import FakeDeepSeek

#: In-house codes no alias knows; the Email header maps, so the sheet is read, and the codes' cells are names.
CODES = ("Email,fld_a1,fld_a2,fld_d4\n"
         "anna@example.org,Anna,Beispiel,met at fair 2024\n"
         "max@example.org,Max,Muster,call back on 3/5\n")


def header_requests(fake: FakeDeepSeek) -> list[dict]:
    return [json.loads(b["messages"][-1]["content"]) for b in fake.requests
            if "headers" in json.loads(b["messages"][-1]["content"])]


@pytest.fixture
def deepseek(isolated_env, monkeypatch):
    with FakeDeepSeek() as fake:
        monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test-key")
        monkeypatch.setenv("DEEPSEEK_BASE_URL", fake.base_url)
        yield fake


def parse(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return read_file(path, file_name=name)


def mapped(tmp_path, name, text):
    settings = get_settings()
    parsed = parse(tmp_path, name, text)
    stats = map_file_headers(parsed, settings, open_cache(open_store(settings)))
    return parsed, stats


def test_codes_map_with_one_request_and_the_same_header_row_again_is_answered_from_the_cache(deepseek, tmp_path):
    parsed, stats = mapped(tmp_path, "a.csv", CODES)
    assert (stats.asked, stats.cached, stats.accepted, stats.rejected) == (1, 0, 2, 0)
    assert stats.mapped == {"fld_a1": "firstName", "fld_a2": "lastName"} and stats.tokens > 0
    assert [h for h, _ in parsed.rows[0].cells] == ["Email", "First Name (fld_a1)", "Last Name (fld_a2)", "fld_d4"]
    lead = standardize_rows(parsed.rows[:1], None)[0]
    assert (lead.fields["firstName"], lead.fields["lastName"]) == ("Anna", "Beispiel")
    assert lead.fields["remarks"] == "fld_d4: met at fair 2024"  # the fake said remarks: kept under its own header
    sent = header_requests(deepseek)
    assert len(sent) == 1 and [c["header"] for c in sent[0]["columns"]] == ["fld_a1", "fld_a2", "fld_d4"]

    other = CODES.replace("Anna,Beispiel", "Ute,Lange").replace("FLD", "fld")
    parsed2, stats2 = mapped(tmp_path, "b.csv", other.replace("fld_a1", "FLD_A1"))  # same signature
    assert (stats2.asked, stats2.cached, stats2.accepted) == (0, 1, 2)
    assert len(deepseek.requests) == 1  # no second request
    assert standardize_rows(parsed2.rows[:1], None)[0].fields["firstName"] == "Ute"


def test_a_proposal_the_content_contradicts_is_rejected(deepseek, tmp_path):
    deepseek.script([{"content": json.dumps({"columns": {"fld_a1": "email", "fld_a2": "lastName",
                                                         "fld_d4": "phone"}})}])
    parsed, stats = mapped(tmp_path, "a.csv", CODES)
    assert (stats.asked, stats.accepted, stats.rejected) == (1, 1, 2)
    assert stats.mapped == {"fld_a2": "lastName"}
    assert [h for h, _ in parsed.rows[0].cells] == ["Email", "fld_a1", "Last Name (fld_a2)", "fld_d4"]


def test_a_field_another_column_provides_is_rejected(deepseek, tmp_path):
    deepseek.script([{"content": json.dumps({"columns": {"kd_x2": "email"}})}])
    parsed, stats = mapped(tmp_path, "a.csv", "Email,kd_x2\na@example.org,b@example.org\n")
    assert (stats.accepted, stats.rejected) == (0, 1)
    assert [h for h, _ in parsed.rows[0].cells] == ["Email", "kd_x2"]


def test_a_failed_request_leaves_the_file_as_read(deepseek, tmp_path):
    deepseek.script([{"status": 400}])
    parsed, stats = mapped(tmp_path, "a.csv", CODES)
    assert (stats.asked, stats.failed, stats.accepted) == (1, 1, 0)
    assert [h for h, _ in parsed.rows[0].cells] == ["Email", "fld_a1", "fld_a2", "fld_d4"]


def test_known_headers_and_generated_column_names_are_never_asked_about(deepseek, tmp_path):
    parsed, stats = mapped(tmp_path, "a.csv", "First Name,Email,Notes\nAnna,a@example.org,hi\n")
    assert stats.as_dict() == {"asked": 0, "cached": 0, "accepted": 0, "rejected": 0, "failed": 0, "mapped": {},
                               "tokens": 0}
    assert deepseek.requests == []


def test_without_a_key_nothing_is_asked(isolated_env, tmp_path):
    parsed, stats = mapped(tmp_path, "a.csv", CODES)
    assert stats.asked == 0 and [h for h, _ in parsed.rows[0].cells] == ["Email", "fld_a1", "fld_a2", "fld_d4"]


def parse_metadata(instance: dg.DagsterInstance, run_id: str) -> dict:
    """The metadata of the run's parse_file ``summary`` output, read from the instance's event log."""
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_OUTPUT):
        event = record.dagster_event
        if event.step_key == "leads.parse_file" and event.event_specific_data.step_output_handle.output_name == \
                "summary":
            return {k: v.value for k, v in event.event_specific_data.metadata.items()}
    raise AssertionError("no parse_file summary output")


@pytest.mark.parametrize("with_key", [True, False])
def test_ingest_maps_the_codes_with_a_key_and_keeps_todays_behaviour_without(isolated_env, monkeypatch, capsys,
                                                                            with_key):
    """``easycrm ingest`` (real Dagster runs): with a key the codes become first/last names after one mapping request,
    counted in the parse step's metadata; without a key they stay in remarks, as before."""
    path = isolated_env / "codes.csv"
    path.write_text(CODES, encoding="utf-8")
    with FakeDeepSeek() as fake:
        if with_key:
            monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test-key")
            monkeypatch.setenv("DEEPSEEK_BASE_URL", fake.base_url)
        code = main(["ingest", str(path), "--json"])
        out = json.loads(capsys.readouterr().out)["files"][0]
        asked = len(header_requests(fake))
        all_requests = fake.request_count
    assert code == 0, out
    with dg.DagsterInstance.get() as instance:
        meta = parse_metadata(instance, out["run_id"])["header_mapping"]
    leads, _ = open_store(get_settings()).query_leads(LeadQuery(sort="email", descending=False))
    anna = leads[0]
    raw = anna["rawRow"] if isinstance(anna["rawRow"], dict) else json.loads(anna["rawRow"])
    if with_key:
        assert asked == 1 and (meta["asked"], meta["accepted"], meta["rejected"]) == (1, 2, 0)
        # the mapping request is one of the file's DeepSeek calls, with its tokens and cost (as every request)
        assert out["llm_calls"] == all_requests == out["batches"] + 1
        assert out["tokens"] >= meta["tokens"] > 0 and out["cost_usd"] > 0
        assert (anna["firstName"], anna["lastName"], anna["remarks"]) == ("Anna", "Beispiel",
                                                                          "fld_d4: met at fair 2024")
        assert raw["First Name (fld_a1)"] == "Anna"
        # a second file with the same header row: answered from the cache, no request
        again = isolated_env / "codes2.csv"
        again.write_text(CODES.replace("anna@", "ute@").replace("Anna", "Ute"), encoding="utf-8")
        with FakeDeepSeek() as fake2:
            monkeypatch.setenv("DEEPSEEK_BASE_URL", fake2.base_url)
            code2 = main(["ingest", str(again), "--json"])
            out2 = json.loads(capsys.readouterr().out)["files"][0]
            asked2 = len(header_requests(fake2))
        assert code2 == 0 and asked2 == 0, out2
        with dg.DagsterInstance.get() as instance:
            meta2 = parse_metadata(instance, out2["run_id"])["header_mapping"]
        assert (meta2["asked"], meta2["cached"], meta2["accepted"]) == (0, 1, 2)
        ute = open_store(get_settings()).get_lead_by_email("ute@example.org")
        assert (ute["firstName"], ute["lastName"]) == ("Ute", "Beispiel")
    else:
        assert asked == 0 and meta["asked"] == 0
        assert (anna["firstName"], anna["lastName"]) == (None, None)
        assert anna["remarks"] == "fld_a1: Anna; fld_a2: Beispiel; fld_d4: met at fair 2024"
        assert raw["fld_a1"] == "Anna"


def test_well_known_non_lead_columns_are_not_asked_about(tmp_path):
    """City, Country, Lead Source (and their German/French names) go to remarks as before, without a request: only
    the in-house code is worth asking about (a 1,000-lead bench file asked once per run for its City column)."""
    path = tmp_path / "export.csv"
    path.write_text("Email,City,Country,Lead Source,Stadt,Pays,fld_a1\n"
                    "anna@example.org,Berlin,Germany,Trade fair,Köln,France,Anna\n", encoding="utf-8")
    parsed = read_file(path)
    headers = [h for h, _ in parsed.rows[0].cells]
    assert unmapped_columns(headers, parsed.rows) == {6: ["Anna"]}


def test_a_stream_of_rows_is_mapped_holding_at_most_a_sheets_sample_and_asking_each_header_row_once():
    """The parse step's stream (issue 13): a sheet's first SAMPLE_ROWS rows are held until its mapping is decided,
    then rows pass one by one; a header row seen in an earlier sheet is not asked again; a short sheet is decided
    when the next sheet starts."""
    from easycrm_pipeline.models import RawRow
    from easycrm_pipeline.pipeline.header_mapping import SAMPLE_ROWS, HeaderMapping, stream_unknown_headers

    names = ["Anna", "Max", "Ute", "Jonas", "Lena"]

    def sheet(index: int, headers: tuple[str, str], n: int) -> list[RawRow]:
        return [RawRow(f"{index}:{k + 2}", f"S{index}", k + 2,
                       ((headers[0], f"p{k}@example.org"), (headers[1], names[k % 5]))) for k in range(n)]

    rows = sheet(0, ("Email", "fld_a1"), 5) + sheet(1, ("Email", "fld_a1"), 40) + sheet(2, ("E-Mail", "fld_a1"), 3)
    pulled, asked = [], []

    def source():
        for row in rows:
            pulled.append(row.row_id)
            yield row

    def ask(headers, columns):
        asked.append(list(headers))
        return {"fld_a1": "firstName"}

    stats = HeaderMapping()
    stream = stream_unknown_headers(source(), ask, signature=lambda h: "|".join(h), stats=stats)
    out = []
    for row in stream:
        out.append(row)
        assert len(pulled) - len(out) <= SAMPLE_ROWS  # rows read but not handed on yet
    assert [r.row_id for r in out] == [r.row_id for r in rows]
    assert asked == [["Email", "fld_a1"], ["E-Mail", "fld_a1"]]
    assert {r.cells[1][0] for r in out} == {"First Name (fld_a1)"}
    assert [r.cells[1][1] for r in out] == [r.cells[1][1] for r in rows]
    assert (stats.asked, stats.accepted, stats.mapped) == (2, 3, {"fld_a1": "firstName"})
