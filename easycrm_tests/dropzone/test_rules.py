"""Ignore rules and partition keys."""
from __future__ import annotations

from pathlib import Path

import pytest

from easycrm_pipeline.dropzone import (
    display_name, is_lead_file, partition_key_for, sanitize_partition_key, size_refusal,
)


@pytest.mark.parametrize(
    "name",
    ["leads.csv", "LEADS.CSV", "Book1.xlsx", "macro.XLSM", "old.xls", "unicode.txt", "export.TSV", "sub dir/Léads 2024.csv", "a/b/c/深い.xlsx"],
)
def test_lead_files_are_accepted(name: str) -> None:
    assert is_lead_file(name, 10) == (True, None)
    assert is_lead_file(name) == (True, None)


@pytest.mark.parametrize(
    ("name", "size", "reason_part"),
    [
        ("uploads/", 0, "folder marker"),
        ("sub/", None, "folder marker"),
        ("somefolder", 0, "zero-byte object"),
        ("~$lock.xlsx", 165, "Excel lock file"),
        ("sub/~$Book1.xlsx", 165, "Excel lock file"),
        (".hidden.csv", 10, "hidden file"),
        (".DS_Store", 10, "hidden file"),
        (".~lock.leads.xlsx#", 10, "hidden file"),
        (".git/leads.csv", 10, "inside a hidden folder"),
        ("sub/../up.csv", 10, "'..' folder segment"),  # breaker finding 24: the reason names what is wrong
        ("./up.csv", 10, "'..' folder segment"),
        ("notes.pdf", 10, "'.pdf'"),
        ("leads.csv.part", 10, "'.part'"),
        ("README", 10, "extension none"),
        ("leads.csv", 0, "empty file (0 bytes)"),
    ],
)
def test_ignored_with_reason(name: str, size: int | None, reason_part: str) -> None:
    ok, reason = is_lead_file(name, size)
    assert ok is False
    assert reason is not None and reason_part in reason


def test_extension_reason_lists_the_accepted_extensions() -> None:
    assert is_lead_file("notes.pdf", 3) == (
        False,
        "not a lead file extension '.pdf' (expected .csv, .ods, .tsv, .txt, .xls, .xlsm, .xlsx)",
    )


def test_sanitize_leaves_ordinary_odd_names_alone() -> None:
    for raw in ["sub dir/Léads 2024.csv", "s3://bkt/uploads/a b/ü, [x] | y.csv", "a..b.csv", "深い.xlsx"]:
        assert sanitize_partition_key(raw) == raw


def test_sanitize_replaces_only_what_dagster_rejects_and_stays_unique() -> None:
    dotted = sanitize_partition_key("report...final.csv")
    assert dotted.startswith("report\u2026final.csv #") and len(dotted) == len("report\u2026final.csv #") + 8
    assert "..." not in dotted
    # a real "…" in another file's name must not land on the same key
    assert sanitize_partition_key("report\u2026final.csv") == "report\u2026final.csv"
    assert sanitize_partition_key("tab\there\nnl\r\0.csv").startswith("tab\u2409here\u240anl\u240d\u2400.csv #")
    # deterministic
    assert sanitize_partition_key("report...final.csv") == dotted


def test_sanitized_keys_pass_dagster_validation() -> None:
    import dagster as dg

    keys = [sanitize_partition_key(k) for k in ["a...b.csv", "x\ty.csv", "z\n.csv", "bell\a\b\f\v.csv", "....csv"]]
    dg.StaticPartitionsDefinition(keys)  # runs dagster's own partition-key substring validation
    with pytest.raises(dg.DagsterInvalidDefinitionError):
        dg.StaticPartitionsDefinition(["a...b.csv"])


def test_partition_key_for_local_and_s3(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    assert partition_key_for(inbox / "sub dir" / "Léads 2024.csv", inbox=inbox) == "sub dir/Léads 2024.csv"
    assert partition_key_for(str(inbox / "a.csv"), inbox=str(inbox)) == "a.csv"
    assert partition_key_for("s3://bkt/uploads/x y/Léads.xlsx") == "s3://bkt/uploads/x y/Léads.xlsx"
    with pytest.raises(ValueError, match="not inside the inbox"):
        partition_key_for(tmp_path / "elsewhere.csv", inbox=inbox)
    with pytest.raises(ValueError, match="needs the inbox"):
        partition_key_for(inbox / "a.csv")


@pytest.mark.parametrize(
    "name, shown",
    [
        ("evil\u202egpj.csv", "evil\\u202egpj.csv"),  # right-to-left override: would display as "evilvsc.jpg"
        ("a\u2066b\u2069.xlsx", "a\\u2066b\\u2069.xlsx"),  # bidi isolates
        ("bell\x07\ttab\n.csv", "bell\\x07\\x09tab\\x0a.csv"),
        ("zero\u200bwidth.csv", "zero\\u200bwidth.csv"),
        ("tag\U000e0041.csv", "tag\\U000e0041.csv"),
        ("Léads 2024 (copy) #2 – €.csv", "Léads 2024 (copy) #2 – €.csv"),  # ordinary names unchanged
    ],
)
def test_display_name_escapes_control_and_bidi_characters(name: str, shown: str) -> None:
    """Issue 16 item 8."""
    assert display_name(name) == shown


def test_size_refusal_names_size_and_limit() -> None:
    """Issue 16 item 10."""
    mb = 1024 * 1024
    assert size_refusal(149 * mb, 100 * mb) == "file is 149.0 MB, over the 100 MB limit (EASYCRM_MAX_FILE_MB)"
    assert size_refusal(100 * mb, 100 * mb) is None and size_refusal(None, 100 * mb) is None
