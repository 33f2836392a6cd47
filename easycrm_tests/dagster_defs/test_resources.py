"""The store and DeepSeek resources bound once in ``definitions.py`` (issue 17 step 2): EnvVar where a variable is
set, the value given in code otherwise, and the ops that need them use them (the re-standardize job included)."""
from __future__ import annotations

import dagster as dg

from easycrm_pipeline.config import get_settings
from easycrm_pipeline.dagster_defs.maintenance import restandardize_job
from easycrm_pipeline.dagster_defs.resources import DeepSeekResource, StoreResource
from easycrm_pipeline.definitions import defs
from easycrm_pipeline.pipeline.standardizer import make_standardizer
from easycrm_pipeline.store.duckdb_store import DuckDBStore
from easycrm_pipeline.testing import FakeDeepSeek
from easycrm_tests.store.helpers import lead


def test_a_set_variable_is_bound_as_envvar_a_value_given_in_code_as_itself(monkeypatch, settings, tmp_path):
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-secret")
    monkeypatch.delenv("EASYCRM_DYNAMODB_TABLE", raising=False)
    store = StoreResource.from_settings(get_settings())
    assert isinstance(store.db_path, dg.EnvVar) and store.db_path.env_var_name == "EASYCRM_DB"  # conftest sets it
    assert store.kind is None and store.dynamodb_table is None  # unset: the setting where the step runs
    deepseek = DeepSeekResource.from_settings(get_settings())
    assert isinstance(deepseek.api_key, dg.EnvVar) and "sk-secret" not in repr(deepseek)
    assert deepseek.base_url is None
    monkeypatch.delenv("EASYCRM_DB")
    given = StoreResource.from_settings(settings.replace(db_path=tmp_path / "given.duckdb"))
    assert given.db_path == str(tmp_path / "given.duckdb")
    assert given.get().path == tmp_path / "given.duckdb" and (tmp_path / "given.duckdb").exists()


def test_the_definitions_bind_both_resources():
    for key, kind in (("store", StoreResource), ("deepseek", DeepSeekResource)):
        assert isinstance(defs.resources[key], kind)
    jobs = {"ingest_job", "restandardize_job", "undo_job"}
    for name in jobs:
        assert "store" in defs.resolve_job_def(name).resource_defs, name


def test_deepseek_resource_values_win_and_go_through_the_settings_checks(settings):
    assert DeepSeekResource().apply(settings) is settings  # nothing given: the settings' (no key: the rules)
    applied = DeepSeekResource(api_key=" sk-1\r\n", base_url="http://127.0.0.1:9/").apply(settings)
    assert (applied.deepseek_api_key, applied.deepseek_base_url) == ("sk-1", "http://127.0.0.1:9")
    assert (applied.llm_mode, applied.llm_enabled, applied.db_path) == ("always", True, settings.db_path)
    assert DeepSeekResource(api_key="sk-1").apply(settings.replace(llm_mode="auto")).llm_mode == "auto"
    assert not DeepSeekResource(api_key=" ").apply(settings.replace(llm_mode="auto")).llm_enabled


def test_restandardize_job_standardizes_with_the_deepseek_resource(monkeypatch, tmp_path):
    """The environment has no key; the bound resource has one: the job's batches go to (the fake) DeepSeek and the
    leads are written to the store resource's file (before issue 17 the job read the environment only)."""
    monkeypatch.delenv("DEEPSEEK_API_KEY", raising=False)
    store = DuckDBStore(tmp_path / "resource.duckdb")
    store.init()
    store.upsert_file([lead(n, firstName=f"P{n}", lastName="ROSS", email=f"p{n}@x.example") for n in (2, 3)],
                      source_file="rules.csv")
    with FakeDeepSeek() as fake, dg.instance_for_test() as instance:
        deepseek = DeepSeekResource(api_key="sk-test", base_url=fake.base_url)
        version = make_standardizer(deepseek.settings()).version
        result = restandardize_job.execute_in_process(
            instance=instance,
            resources={"store": StoreResource(db_path=str(tmp_path / "resource.duckdb")), "deepseek": deepseek},
        )
        requests = fake.request_ids()
    assert result.success
    assert sorted(map(sorted, requests)) == [["0:2", "0:3"]]
    assert {r["standardizer"] for r in store.all_leads()} == {version}
    assert version.startswith("deepseek-v4-flash/")
