"""Breaker 2: DeepSeek header mapping (issue 15) against wrong answers and cache reuse. Real parts only: the CSV
reader, the DuckDB store's cache, the DeepSeek client and the fake DeepSeek server on loopback."""
from __future__ import annotations

import json

from easycrm_pipeline.config import get_settings
from easycrm_pipeline.parsing import read_file
from easycrm_pipeline.pipeline.cache import open_cache
from easycrm_pipeline.pipeline.collect import open_store
from easycrm_pipeline.pipeline.header_mapping import map_file_headers
from easycrm_tests.pipeline.test_header_mapping import CODES, deepseek  # noqa: F401 - the data and the fixture


def mapped(tmp_path, name, text):
    settings = get_settings()
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    parsed = read_file(path, file_name=name)
    stats = map_file_headers(parsed, settings, open_cache(open_store(settings)))
    return parsed, stats


def test_an_answer_of_the_wrong_shape_is_not_cached_for_good(deepseek, tmp_path):
    deepseek.script([{"content": json.dumps({"mapping": {"fld_a1": "firstName"}})}])  # not {"columns": ...}
    _parsed, stats = mapped(tmp_path, "a.csv", CODES)
    assert (stats.asked, stats.accepted) == (1, 0)
    # the next file with the same header row, DeepSeek answering properly now: it should be asked and mapped
    _parsed2, stats2 = mapped(tmp_path, "b.csv", CODES.replace("Anna", "Ute"))
    assert stats2.mapped == {"fld_a1": "firstName", "fld_a2": "lastName"}


def test_a_column_empty_in_the_first_file_is_mapped_in_a_later_file_with_the_same_header_row(deepseek, tmp_path):
    first = ("Email,fld_a1,fld_a2\n"
             "anna@example.org,Anna,\n"
             "max@example.org,Max,\n")
    _parsed, stats = mapped(tmp_path, "a.csv", first)
    assert stats.mapped == {"fld_a1": "firstName"}
    later = ("Email,fld_a1,fld_a2\n"
             "ute@example.org,Ute,Lange\n"
             "tom@example.org,Tom,Berg\n")
    _parsed2, stats2 = mapped(tmp_path, "b.csv", later)
    # the same file alone (empty cache) maps fld_a2 to lastName: the result must not depend on what came before
    assert stats2.mapped == {"fld_a1": "firstName", "fld_a2": "lastName"}
