"""LinkedIn profile URLs: the ``linkedinUrl`` field's offline rule (docs/adding-a-field.md)."""
from __future__ import annotations

import re

_PROFILE = re.compile(r"^(?:https?://)?(?:[a-z]{2,3}\.)?linkedin\.com/in/([^/?#\s]+)/?(?:[?#]\S*)?$", re.IGNORECASE)


def normalize_linkedin_url(cell: str) -> tuple[str | None, tuple[str, ...]]:
    """A LinkedIn profile URL as ``https://www.linkedin.com/in/<handle>`` (handle lower-cased; scheme, ``www.`` or a
    country subdomain, query, fragment and trailing slash dropped): ``"de.linkedin.com/in/Ann-Lee/?trk=x"`` ->
    ``"https://www.linkedin.com/in/ann-lee"``. Anything else is no value, kept as the remark
    ``"invalid LinkedIn URL in source: <cell>"`` (nothing of a cell is lost, docs/contracts.md)."""
    m = _PROFILE.match(cell.strip())
    if not m:
        return None, (f"invalid LinkedIn URL in source: {cell}",)
    return f"https://www.linkedin.com/in/{m.group(1).lower()}", ()
