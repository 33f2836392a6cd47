"""Kept files: content-addressed copies and the partition key -> latest kept file record (local and S3)."""
import hashlib

import boto3

from easycrm_pipeline.dropzone import files
from easycrm_tests.support.fixtures import moto_server  # noqa: F401 - pytest fixture


def test_local_keep_is_content_addressed_and_the_key_resolves_to_the_latest(isolated_env):
    src = isolated_env / "inbox" / "a.csv"
    src.write_text("Email\nx@example.com\n", encoding="utf-8")
    first = files.keep(src, "a.csv", "a.csv", str(src))
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    assert first.sha256 == digest and first.size == src.stat().st_size
    assert first.location == str((isolated_env / "files" / f"{digest}.csv").resolve())
    src.write_text("Email\ny@example.com\n", encoding="utf-8")  # a new version of the same file
    second = files.keep(src, "a.csv", "a.csv", str(src))
    assert second.sha256 != first.sha256
    src.unlink()  # the drop is gone: the kept copy still answers
    assert files.resolve("a.csv", isolated_env / "inbox") == (second.location, "a.csv")
    assert open(second.location, encoding="utf-8").read() == "Email\ny@example.com\n"
    assert open(first.location, encoding="utf-8").read() == "Email\nx@example.com\n"  # older content kept too


def test_unknown_key_falls_back_to_the_inbox_or_nothing(isolated_env):
    inbox = isolated_env / "inbox"
    (inbox / "sub").mkdir()
    (inbox / "sub" / "b.csv").write_text("Email\n", encoding="utf-8")
    assert files.resolve("sub/b.csv", inbox) == (str((inbox / "sub" / "b.csv").resolve()), "b.csv")
    assert files.resolve("never.csv", inbox) is None
    assert files.resolve("", inbox) is None


def test_s3_drop_is_kept_in_the_bucket(isolated_env, moto_server):  # noqa: F811 - fixture
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="drops")
    local = isolated_env / "c.csv"
    local.write_text("Email\nz@example.com\n", encoding="utf-8")
    key = "s3://drops/uploads/c.csv"
    kept = files.keep(local, key, "c.csv", key)
    assert kept.location == f"s3://drops/.easycrm/files/{kept.sha256}.csv"
    assert s3.get_object(Bucket="drops", Key=f".easycrm/files/{kept.sha256}.csv")["Body"].read() == local.read_bytes()
    assert files.resolve(key) == (kept.location, "c.csv")
    assert files.resolve("s3://drops/uploads/other.csv") == ("s3://drops/uploads/other.csv", "other.csv")
    assert not (isolated_env / "files").exists()  # nothing of an S3 drop is kept locally
    from easycrm_pipeline.dropzone import is_lead_file

    # a sensor watching the whole bucket never takes a kept copy for a drop (hidden folder)
    assert not is_lead_file(f".easycrm/files/{kept.sha256}.csv")[0]
