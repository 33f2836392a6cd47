"""The version of the offline rules (``rules-N``), written to ``StandardLead.standardizer`` for leads they produce.

Its own module so that the rules' modules can import it without importing the ``rules`` package (which imports them).
Bump it when a rule changes its output: ``pipeline/restandardize.py`` re-standardizes leads of older versions.
"""
from __future__ import annotations

RULES_VERSION = "rules-2"
