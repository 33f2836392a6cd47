"""A failed ingest run carries its one-line reason as the run tag ``easycrm/error`` (runs list, run tags)."""
import dagster as dg

from easycrm_pipeline.cli.run_file import ensure_partition, run_tags
from easycrm_pipeline.dagster_defs.failures import ERROR_TAG, one_line
from easycrm_pipeline.definitions import get_ingest_job


def test_text_named_xlsx_fails_its_run_with_the_reason_as_a_tag(isolated_env):
    path = isolated_env / "notes.xlsx"
    path.write_text("meeting notes\nremember to call back\n", encoding="utf-8")
    instance = dg.DagsterInstance.get()
    ensure_partition(instance, "notes.xlsx")
    result = dg.execute_job(
        dg.reconstructable(get_ingest_job), instance=instance, tags=run_tags("notes.xlsx", str(path), "notes.xlsx"),
        run_config={"execution": {"config": {"in_process": {}}}}, raise_on_error=False,
    )
    assert not result.success
    tag = instance.get_run_by_id(result.run_id).tags[ERROR_TAG]
    assert tag.startswith("parse_file: notes.xlsx: not an Excel workbook: notes.xlsx is neither a zip")
    assert "\n" not in tag
    # the partition page's events: an observation of the file's partition of `leads` with the same line
    seen = instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("leads"), asset_partitions=["notes.xlsx"]), limit=5).records
    assert len(seen) == 1
    observation = seen[0].asset_observation
    assert observation.description == f"run failed: {tag}" and observation.metadata["error"].value == tag
    assert observation.metadata["run"].value == result.run_id


def test_one_line_cuts_and_takes_the_first_line():
    assert one_line(dg.Failure(description="a: b\ntrace")) == "a: b"
    assert one_line(ValueError("")) == "ValueError"
    assert len(one_line(RuntimeError("x" * 1000))) == 300
