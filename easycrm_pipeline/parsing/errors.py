"""The one error the readers raise for a file that cannot be read as leads."""
from __future__ import annotations


class FileRejected(ValueError):
    """A lead file refused as a whole; ``str(exc)`` is a one-line reason fit for the user.

    Reasons used: ``"file is empty"``, ``"file is not a CSV or Excel workbook (binary content)"``,
    ``"workbook is password-protected or encrypted"``, ``"corrupt .xlsx: ..."``, ``"corrupt .xls: ..."``,
    ``"file is 150.0 MB, over the 100 MB limit (EASYCRM_MAX_FILE_MB)"``,
    ``"xlsx expands to more than N MB (zip bomb?)"``,
    ``"no header row maps to a lead field (email, name, phone or company)"``, ``"header only: no data rows"``.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


NO_HEADER = "no header row maps to a lead field (email, name, phone or company)"
HEADER_ONLY = "header only: no data rows"
EMPTY = "file is empty"
BINARY = "file is not a CSV or Excel workbook (binary content)"
ENCRYPTED = "workbook is password-protected or encrypted"


def no_header(first_rows: list[list[str]]) -> str:
    """The refusal of a file where no header row maps and no column's content shows emails, phones or names: what
    was looked for and the first row(s) seen (``first_rows``: one list of cells per sheet, empty lists ignored)."""
    seen = "; ".join(", ".join(repr(c[:40]) for c in cells) for cells in first_rows[:3] if cells)
    looked = ("looked for headers such as Email, First/Last/Full Name, Phone/Mobile, Company, Job Title (English, "
              "German, French, Spanish, Italian, Portuguese, Dutch, Polish, Turkish, Russian) and for columns of "
              "email addresses, phone numbers or names")
    return f"{NO_HEADER}: {looked}; first row seen: {seen}" if seen else f"{NO_HEADER}: {looked}"
