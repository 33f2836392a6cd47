"""Breaker cases on ``easycrm ingest`` (issue 16 item 8 follow-up): the display-name escaping of bidi/control
characters is applied to S3 keys and inbox drops, not to files given to the CLI."""
import json

import duckdb
import pytest

from easycrm_pipeline.cli.main import main


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


@pytest.mark.parametrize("name", ["tab\tname\nline.csv", "x...y.csv"])
def test_cli_ingest_shows_and_keys_the_name_like_the_sensors(isolated_env, capsys, name):
    """Breaker findings 16 and 23: control characters escaped in the name shown and stored, the partition key
    sanitized like the inbox sensor's (``x...y.csv`` -> ``x…y.csv #<hash>``), and status finds the run by the name."""
    from easycrm_pipeline.dropzone.rules import display_name, partition_key_for, sanitize_partition_key

    path = isolated_env / name
    path.write_text("Email,First Name\nx@example.com,Xi\n", encoding="utf-8")
    assert main(["ingest", str(path), "--json"]) == 0
    (outcome,) = json.loads(capsys.readouterr().out)["files"]
    shown = display_name(name)
    assert outcome["file"] == shown and outcome["status"] == "completed" and outcome["leads_created"] == 1
    assert "\t" not in shown and "\n" not in shown
    if "..." in name:  # the key the inbox would give the same file
        assert sanitize_partition_key(shown) == partition_key_for(path, inbox=isolated_env) != shown
    con = duckdb.connect(str(isolated_env / "leads.duckdb"), read_only=True)
    try:
        assert con.execute('select "sourceFile" from leads').fetchall() == [(shown,)]
    finally:
        con.close()
    assert main(["status", str(path), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["file"] == shown and status["partition"] == sanitize_partition_key(shown)
