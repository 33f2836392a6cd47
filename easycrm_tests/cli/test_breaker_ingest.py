"""Breaker cases on ``easycrm ingest`` (issue 16 item 8 follow-up): the display-name escaping of bidi/control
characters is applied to S3 keys and inbox drops, not to files given to the CLI."""
import json

import duckdb
import pytest

from easycrm_pipeline.cli.main import main


@pytest.mark.xfail(strict=True, reason="breaker: a local file name with U+202E / newline reaches sourceFile and the "
                                       "CLI output unescaped (easycrm ingest uses path.name, not display_name)")
def test_breaker_cli_ingest_escapes_bidi_and_control_characters_in_the_file_name(isolated_env, capsys):
    tmp = isolated_env
    path = tmp / "evil\u202egpj.csv"
    path.write_text("Email,First Name\nx@example.com,Xi\n", encoding="utf-8")
    code = main(["ingest", str(path), "--json"])
    out = capsys.readouterr().out
    assert code == 0
    assert "\u202e" not in json.loads(out)["files"][0]["file"]
    con = duckdb.connect(str(tmp / "leads.duckdb"), read_only=True)
    try:
        (source,) = con.execute('select "sourceFile" from leads').fetchone()
    finally:
        con.close()
    assert "\u202e" not in source
