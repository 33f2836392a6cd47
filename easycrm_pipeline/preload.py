"""Modules a step process needs, imported once in the forkserver so each forked step starts warm.

Listed in the multiprocess executor's ``forkserver.preload_modules`` (see ``dagster_defs.jobs``): without it every
mapped step re-imports httpx, phonenumbers, email-validator and nameparser (about a second of CPU per step on this
2-core machine), which spreads the steps' DeepSeek calls apart and leaves pool slots idle.
"""
import easycrm_pipeline.definitions  # noqa: F401
import easycrm_pipeline.deepseek.client  # noqa: F401
import easycrm_pipeline.pipeline.collect  # noqa: F401
import easycrm_pipeline.pipeline.standardizer  # noqa: F401
import easycrm_pipeline.rules.standardize  # noqa: F401
import easycrm_pipeline.rules.validate  # noqa: F401
import easycrm_pipeline.rules.dedupe  # noqa: F401
import easycrm_pipeline.store.duckdb_store  # noqa: F401
