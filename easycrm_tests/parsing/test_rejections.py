"""Files refused as a whole: each raises FileRejected with a clear one-line reason."""
from __future__ import annotations

import random
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook

from easycrm_pipeline.parsing import FileRejected, read_file

from .xlsx_helpers import write_fast_xlsx

NO_HEADER = "no header row maps to a lead field (email, name, phone or company)"


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _reason(path: Path, **kw) -> str:
    with pytest.raises(FileRejected) as info:
        read_file(path, **kw)
    assert isinstance(info.value, ValueError)
    assert "\n" not in str(info.value)
    return str(info.value)


@pytest.mark.parametrize("data", [b"", b"   \r\n\r\n", b"\xef\xbb\xbf", "\ufeff".encode("utf-16"), b",,,\n,,,\n"])
def test_empty_files(tmp_path, data):
    assert _reason(_write(tmp_path, "empty.csv", data)) == "file is empty"


def test_empty_workbook(tmp_path):
    wb = Workbook()
    wb.create_sheet("Second")
    wb.save(tmp_path / "empty.xlsx")
    assert _reason(tmp_path / "empty.xlsx") == "file is empty"


def test_header_only_csv_and_xlsx(tmp_path):
    assert _reason(_write(tmp_path, "h.csv", b"First Name,Last Name,Email\r\n\r\n,,\r\n")) == "header only: no data rows"
    wb = Workbook()
    wb.active.append(["Email", "Phone"])
    wb.save(tmp_path / "h.xlsx")
    assert _reason(tmp_path / "h.xlsx") == "header only: no data rows"


LOOKED_FOR = ("looked for headers such as Email, First/Last/Full Name, Phone/Mobile, Company, Job Title (English, "
              "German, French, Spanish, Italian, Portuguese, Dutch, Polish, Turkish, Russian) and for columns of "
              "email addresses, phone numbers or names")


def test_no_lead_header(tmp_path):
    # the refusal names what it looked for and the headers it saw (issue 15)
    assert _reason(_write(tmp_path, "prices.csv", b"sku,price,qty\nA1,9.99,3\nB2,5.00,1\n")) == (
        f"{NO_HEADER}: {LOOKED_FOR}; first row seen: 'sku', 'price', 'qty'")
    wb = Workbook()
    wb.active["A1"] = "Instructions: fill in the regional tabs."
    wb.active["A2"] = "Ask ops for help."
    wb.save(tmp_path / "notes.xlsx")
    assert _reason(tmp_path / "notes.xlsx") == (
        f"{NO_HEADER}: {LOOKED_FOR}; first row seen: 'Instructions: fill in the regional tabs.'")


@pytest.mark.parametrize("name", ["garbage.csv", "garbage.txt"])
def test_binary_garbage_named_csv(tmp_path, name):
    data = random.Random(7).randbytes(20_000)
    assert _reason(_write(tmp_path, name, data)) == "file is not a CSV or Excel workbook (binary content)"


@pytest.mark.parametrize("head", [b"%PDF-1.7\n", b"\x89PNG\r\n\x1a\n", b"\x1f\x8b\x08\x00"])
def test_known_binary_formats(tmp_path, head):
    path = _write(tmp_path, "leads.csv", head + b"Email,Name\na@example.com,Ann\n")
    assert _reason(path) == "file is not a CSV or Excel workbook (binary content)"


def test_nul_bytes_in_8bit_text_are_binary(tmp_path):
    data = b"Email,Name\n" + b"a@example.com,Ann\x00\x00\x00\x00\x00\x01\x02\n" * 10
    assert _reason(_write(tmp_path, "nul.csv", data)) == "file is not a CSV or Excel workbook (binary content)"


def test_corrupt_xlsx(tmp_path):
    reason = _reason(_write(tmp_path, "broken.xlsx", b"PK\x03\x04" + random.Random(1).randbytes(3000)))
    assert reason.startswith("corrupt .xlsx: not a valid zip archive")
    # a valid zip that is no workbook
    with zipfile.ZipFile(tmp_path / "other.xlsx", "w") as zf:
        zf.writestr("readme.txt", "hello")
    assert _reason(tmp_path / "other.xlsx") == "corrupt .xlsx: no workbook part in the archive (not an Excel workbook)"
    # a real workbook cut in half (interrupted upload)
    wb = Workbook()
    wb.active.append(["Email"])
    wb.active.append(["a@example.com"])
    wb.save(tmp_path / "full.xlsx")
    full = (tmp_path / "full.xlsx").read_bytes()
    assert _reason(_write(tmp_path, "cut.xlsx", full[: len(full) // 2])).startswith("corrupt .xlsx:")


def test_workbook_with_broken_sheet_xml(tmp_path):
    path = write_fast_xlsx(tmp_path / "badxml.xlsx", {"Leads": [["Email"], ["a@example.com"]]})
    data = path.read_bytes()
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(tmp_path / "bad2.xlsx", "w") as zout:
        for info in zin.infolist():
            body = zin.read(info.filename)
            if info.filename.endswith("sheet1.xml"):
                body = body[: len(body) // 2]
            zout.writestr(info.filename, body)
    assert data  # the original is fine
    assert _reason(tmp_path / "bad2.xlsx").startswith("corrupt .xlsx:")


@pytest.mark.parametrize("name", ["locked.xlsx", "locked.xlsm"])
def test_encrypted_xlsx_fake_ole2_header(tmp_path, name):
    data = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(2048) + "EncryptionInfo".encode("utf-16-le") + bytes(2048)
    assert _reason(_write(tmp_path, name, data)) == "workbook is password-protected or encrypted"
    # an OLE2 file without the encryption streams is a legacy workbook, here a broken one: said in one line
    bare = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4096)
    assert _reason(_write(tmp_path, "bare" + name[6:], bare)).startswith("corrupt .xls:")


def test_encrypted_ooxml_named_xls_is_recognised_by_its_streams(tmp_path):
    data = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(1000) + "EncryptedPackage".encode("utf-16-le") + bytes(1000)
    assert _reason(_write(tmp_path, "locked.xls", data)) == "workbook is password-protected or encrypted"


def test_broken_xls(tmp_path):
    data = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4096)
    assert _reason(_write(tmp_path, "old.xls", data)).startswith("corrupt .xls:")


def test_zip_bomb(tmp_path):
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/workbook.xml", "<workbook/>")
        zf.writestr("xl/worksheets/sheet1.xml", b"\0" * (30 * 1024 * 1024))
    assert path.stat().st_size < 200_000
    assert _reason(path, max_unzipped_bytes=10 * 1024 * 1024) == "xlsx expands to more than 10 MB (zip bomb?)"
    # the default limit scales with max_bytes (10x, at least 200 MB): 30 MB of zeros is allowed -> then corrupt
    assert _reason(path).startswith("corrupt .xlsx:")


def test_over_size_limit(tmp_path):
    path = _write(tmp_path, "big.csv", b"Email,Name\n" + b"a@example.com,Ann Lee\n" * 60_000)
    size_mb = path.stat().st_size / (1024 * 1024)
    assert _reason(path, max_bytes=1024 * 1024) == (
        f"file is {size_mb:.1f} MB, over the 1 MB limit (EASYCRM_MAX_FILE_MB)")
    assert size_mb > 1.2
    small = _write(tmp_path, "small.csv", b"Email,Name\na@example.com,Ann Lee\n")
    assert len(read_file(small, max_bytes=small.stat().st_size).rows) == 1  # exactly at the limit is fine



def test_zip_bomb_under_the_size_limit_is_refused_by_its_ratio(tmp_path):
    """0.1 MB expanding to 120 MB (1000:1) stays under the 1,000 MB default limit but no Excel file compresses so."""
    path = tmp_path / "ratio.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/workbook.xml", "<workbook/>")
        zf.writestr("xl/worksheets/sheet1.xml", b"\0" * (120 * 1024 * 1024))
    reason = _reason(path)
    assert reason.startswith("xlsx expands 0.1 MB to 120 MB (") and reason.endswith(":1, zip bomb?)")


def test_text_named_xlsx_says_it_is_not_a_workbook(tmp_path):
    """Issue 14: a text file named .xlsx is refused as not a workbook, not as 'no header row maps to a lead field'."""
    reason = _reason(_write(tmp_path, "notes.xlsx", b"meeting notes\nremember to call back\n"))
    assert reason.startswith("not an Excel workbook: notes.xlsx is neither a zip (.xlsx/.xlsm) nor an OLE2 (.xls)")
    assert reason.endswith(f"{NO_HEADER}: {LOOKED_FOR}; first row seen: 'meeting notes'")


def test_csv_renamed_xlsx_still_reads(tmp_path):
    parsed = read_file(_write(tmp_path, "renamed.xlsx", b"Email,Name\na@example.com,Ann\n"))
    assert len(parsed.rows) == 1
