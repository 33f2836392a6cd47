"""Offline rules standardizer (pure logic, no I/O): header mapping, email/phone/name normalization, validation of
DeepSeek answers and in-file de-duplication.

``RULES_VERSION`` is written to ``StandardLead.standardizer`` for leads produced by these rules.
"""
from __future__ import annotations

RULES_VERSION = "rules-2"

from .dedupe import DuplicateResolution, merge_in_file  # noqa: E402
from .emails import EmailResult, normalize_email_cell, normalize_email_key  # noqa: E402
from .headers import HeaderMap, map_headers  # noqa: E402
from .names import split_full_name, title_case_name  # noqa: E402
from .phones import PhoneResult, normalize_phone  # noqa: E402
from .standardize import standardize_row, standardize_rows  # noqa: E402
from .validate import validate_candidate  # noqa: E402

__all__ = [
    "RULES_VERSION",
    "DuplicateResolution",
    "EmailResult",
    "HeaderMap",
    "PhoneResult",
    "map_headers",
    "merge_in_file",
    "normalize_email_cell",
    "normalize_email_key",
    "normalize_phone",
    "split_full_name",
    "standardize_row",
    "standardize_rows",
    "title_case_name",
    "validate_candidate",
]
