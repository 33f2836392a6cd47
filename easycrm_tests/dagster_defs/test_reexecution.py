"""Re-executing a failed ingest run from failure (the Dagster UI's "Re-execute from failure") runs only what is
missing: the failed chunk step runs again, but the batches it had finished are read from the first run's stored
batch results, not sent to DeepSeek again.

The ingest job with its default executor (in-process), a real instance in the temp DAGSTER_HOME (conftest) and
the fake DeepSeek server; the first run fails because DeepSeek rejects the key on one batch (401 stops the file).
Each run executes in its own process, as the CLI and the run launcher do (the definitions bind the DeepSeek
resource from the environment when they load).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import duckdb

from easycrm_pipeline.testing.fake_deepseek import FakeDeepSeek

_RUN = r"""
import json, sys
import dagster as dg
from easycrm_pipeline.cli.instance import get_instance
from easycrm_pipeline.cli.run_file import ensure_partition, run_tags
from easycrm_pipeline.dagster_defs.jobs import execution_config
from easycrm_pipeline.definitions import get_ingest_job

path, parent = sys.argv[1], sys.argv[2]
instance = get_instance()
ensure_partition(instance, "r.csv")
kwargs = {}
if parent:
    kwargs["reexecution_options"] = dg.ReexecutionOptions.from_failure(parent, instance)
result = dg.execute_job(dg.reconstructable(get_ingest_job), instance=instance, run_config=execution_config(True),
                        tags=run_tags("r.csv", path, "r.csv"), raise_on_error=False, **kwargs)
events = result.all_events
print("RESULT " + json.dumps({
    "run_id": result.run_id, "success": result.success,
    "started": sorted({e.step_key for e in events if e.event_type_value == "STEP_START"}),
    "failed": sorted({e.step_key for e in events if e.is_step_failure}),
    "errors": [e.step_failure_data.error.to_string() for e in events if e.is_step_failure],
}))
"""


def _run(path, parent: str = "") -> dict:
    proc = subprocess.run([sys.executable, "-c", _RUN, str(path), parent], env=dict(os.environ),
                          capture_output=True, text=True, timeout=180)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line, proc.stderr[-3000:]
    return json.loads(line[len("RESULT "):])


def test_reexecution_from_failure_sends_only_the_failed_batch(isolated_env, monkeypatch):
    tmp = isolated_env
    path = tmp / "r.csv"  # 3 batches of 10, one chunk
    path.write_text(
        "First Name,Last Name,Email,Company\n" + "".join(f"ann{i},LEE,ann{i}@x{i}.example,Acme {i}\n" for i in range(30))
    )
    with FakeDeepSeek(latency=0.0) as fake:
        monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test-key")
        monkeypatch.setenv("DEEPSEEK_BASE_URL", fake.base_url)
        fake.script([{}, {}, {"status": 401}])  # the third request (whichever batch) is refused
        first = _run(path)
        sent_first = fake.request_ids()
        assert not first["success"]
        assert first["failed"] == ["leads.standardize_chunk[chunk_0001]"]
        assert "DeepSeek rejected the API key" in first["errors"][0]
        assert len(sent_first) == 3  # no retry storm: the 401 is not retried
        assert _count(tmp, "select count(*) from leads") == 0  # collect never ran

        again = _run(path, first["run_id"])
        sent = fake.request_ids()[3:]
    assert again["success"], again
    # only the failed chunk step and what depends on it run again; parse is reused, and inside the chunk the two
    # batches answered in the first run are read from its stored results
    assert set(again["started"]) >= {first["failed"][0], "leads.collect_leads"}
    assert not [k for k in again["started"] if k.startswith("leads.") and k not in
                (first["failed"][0], "leads.collect_leads")]
    assert len(sent) == 1  # one DeepSeek request: the refused batch, with the same rows
    assert sorted(sent[0]) in [sorted(ids) for ids in sent_first]
    assert len(sent[0]) == 10
    assert _count(tmp, "select count(*) from leads") == 30


def _count(tmp, sql: str) -> int:
    con = duckdb.connect(str(tmp / "leads.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()
