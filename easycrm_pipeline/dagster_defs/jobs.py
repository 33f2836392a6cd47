"""The ingest job (the one the sensors launch and ``easycrm ingest`` runs) and its run config.

Executor: multiprocess with forkserver and ``max_concurrent`` = the pool size when DeepSeek is on, so one run keeps
the pool full without waiting on the pool's slow re-check (DESIGN.md section 6); in-process for the offline rules,
where a batch takes milliseconds and a process per step would cost more than the work.
"""
import dagster as dg

from easycrm_pipeline.dagster_defs.assets import leads

#: Concurrent DeepSeek calls allowed across all runs (the ``deepseek`` pool limit; seeds: "Concurrency: 5").
DEEPSEEK_POOL_LIMIT = 5

ingest_job = dg.define_asset_job(
    name="ingest_job",
    selection=dg.AssetSelection.assets(leads),
    description="Parse a dropped lead file, standardize it batch by batch, upsert the leads.",
)


def execution_config(llm_enabled: bool) -> dict:
    """Run config ``execution`` section: multiprocess/forkserver for DeepSeek, in-process for the rules."""
    if not llm_enabled:
        return {"execution": {"config": {"in_process": {}}}}
    return {
        "execution": {
            "config": {
                "multiprocess": {
                    "max_concurrent": DEEPSEEK_POOL_LIMIT,
                    "start_method": {"forkserver": {"preload_modules": ["easycrm_pipeline.preload"]}},
                }
            }
        }
    }
