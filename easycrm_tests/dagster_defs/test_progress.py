"""The figures of ``dagster_defs/progress.py`` computed from collected run events (pure halves of
``run_progress``; the event reading runs against real runs in ``easycrm_tests/cli/test_runs.py``)."""
from easycrm_pipeline.dagster_defs.progress import (
    RunEvents,
    batch_figures,
    eta_seconds,
    percentage,
    processed_leads,
    seed_status,
    stage,
)


def test_batch_figures_sum_the_chunks_and_name_every_failed_batch():
    events = RunEvents(total_batches=4, total_leads=40, chunks={
        "chunk_0000": {"batches_done": 2, "rows_done": 20, "tokens": 300, "cost_usd": 0.01},
        "chunk_0001": {"batches_done": 1, "rows_done": 10, "tokens": 100, "failed_batches": {"batch_00003": "503"}},
    }, failures={"chunk_0002": "interrupted (the run was cancelled)"}, detail={"batch_00003": "HTTP 503 x3"})
    figures = batch_figures(events)
    assert (figures.completed, figures.rows, figures.tokens, round(figures.cost, 6)) == (3, 30, 400, 0.01)
    assert figures.cost_known is False  # chunk_0001 used tokens without recording its cost
    assert figures.failures == {"chunk_0002": "interrupted (the run was cancelled)", "batch_00003": "HTTP 503 x3"}
    collected = batch_figures(RunEvents(total_batches=4, total_leads=40, chunks=events.chunks, collected=True,
                                        file_usage=(900, 0.05)))
    assert (collected.completed, collected.tokens, collected.cost, collected.cost_known) == (4, 900, 0.05, True)


def test_processed_percentage_eta_and_stage():
    running = RunEvents(total_batches=4, total_leads=40)
    assert processed_leads(running, 30) == 30 and processed_leads(running, 55) == 40
    assert processed_leads(RunEvents(total_batches=4, total_leads=40, collected=True), 10) == 40
    # no batch for DeepSeek: the rules settled every row in parse_file (offline), so all are processed once parsed
    assert processed_leads(RunEvents(total_batches=0, total_leads=40), 0) == 40
    assert percentage("processing", 30, 40) == 75.0 and percentage("processing", 40, 40) == 99.9
    assert percentage("completed", 0, 0) == 100.0 and percentage("processing", 0, None) == 0.0
    assert eta_seconds("processing", 30.0, 30, 40) == 10.0 and eta_seconds("processing", 30.0, 40, 40) == 0.0
    assert eta_seconds("processing", 5.0, 0, 40) is None and eta_seconds("completed", 5.0, 10, 40) is None
    assert [stage("uploaded", None, 0), stage("processing", None, 0), stage("processing", 4, 3),
            stage("processing", 4, 4), stage("error", 4, 1)] == ["queued", "parsing", "standardizing", "writing",
                                                                 "error"]
    assert seed_status("STARTED") == "processing" and seed_status("CANCELING") == "cancelled"
