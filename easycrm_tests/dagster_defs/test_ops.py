"""parse_file's location: a run launched the way the Dagster UI launches it (Materialize / Re-execute / backfill:
partition tag only, no op config, no ``easycrm/location`` tag) ingests the partition's kept file."""
import dagster as dg
import duckdb

from easycrm_pipeline.cli.main import main
from easycrm_pipeline.definitions import get_ingest_job


def _ui_run(instance, partition: str) :
    """What the UI's Materialize does: only the partition; no run config, no easycrm tags."""
    return dg.execute_job(
        dg.reconstructable(get_ingest_job), instance=instance, tags={"dagster/partition": partition},
        raise_on_error=False,
    )


def test_ui_materialization_reads_the_kept_file(isolated_env, capsys):
    instance = dg.DagsterInstance.get()
    path = isolated_env / "ui.csv"
    path.write_text("First Name,Email\nAna,ana@example.com\nBo,bo@example.com\n", encoding="utf-8")
    assert main(["ingest", str(path), "--json"]) == 0, capsys.readouterr().err
    path.unlink()  # the file left the drop zone: the kept copy is what the UI run reads
    with duckdb.connect(str(isolated_env / "leads.duckdb")) as con:
        con.execute("DELETE FROM leads")
    result = _ui_run(instance, "ui.csv")
    assert result.success
    with duckdb.connect(str(isolated_env / "leads.duckdb"), read_only=True) as con:
        assert con.execute("""select count(*) from leads where "sourceFile" = 'ui.csv'""").fetchone()[0] == 2


def test_ui_materialization_of_an_unknown_partition_fails_with_one_line(isolated_env):
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions("lead_files", ["ghost.csv"])
    result = _ui_run(instance, "ghost.csv")
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "no file for partition 'ghost.csv'" in failure.step_failure_data.error.message


def test_lead_files_partition_shows_the_file(isolated_env, capsys):
    """Issue 14 item 8: lead_files looked empty; each ingest now materializes its partition with the file's facts."""
    import hashlib

    path = isolated_env / "shown.csv"
    path.write_text("First Name,Email\nAna,ana@example.com\nTotal,\n", encoding="utf-8")
    assert main(["ingest", str(path), "--json"]) == 0, capsys.readouterr().err
    instance = dg.DagsterInstance.get()
    record = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("lead_files"), asset_partitions=["shown.csv"]), limit=1
    ).records[0]
    md = {k: v.value for k, v in record.asset_materialization.metadata.items()}
    assert md["size_bytes"] == path.stat().st_size
    assert md["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert md["rows"] == 2 and md["lead_rows"] == 1 and md["sheet_count"] == 1
    assert md["sheets"] == "csv: 1 rows"
    assert md["kept_as"] == str((isolated_env / "files" / f"{md['sha256']}.csv").resolve())
    assert md["seen_at"] > 0


def test_reexecuting_a_sensor_run_after_the_drop_left_reads_the_same_content(isolated_env):
    """A UI Re-execute copies the parent's tags: its location is gone, its fingerprint names the kept content."""
    import hashlib

    from easycrm_pipeline.cli.run_file import ensure_partition

    instance = dg.DagsterInstance.get()
    path = isolated_env / "inbox" / "again.csv"
    path.write_text("First Name,Email\nAna,ana@example.com\n", encoding="utf-8")
    fingerprint = f"{hashlib.sha256(path.read_bytes()).hexdigest()}:{path.stat().st_size}"
    tags = {"dagster/partition": "again.csv", "easycrm/location": str(path), "easycrm/fingerprint": fingerprint}
    ensure_partition(instance, "again.csv")
    first = dg.execute_job(dg.reconstructable(get_ingest_job), instance=instance, tags=tags, raise_on_error=False)
    assert first.success
    path.unlink()
    again = dg.execute_job(dg.reconstructable(get_ingest_job), instance=instance, tags=tags, raise_on_error=False)
    assert again.success
