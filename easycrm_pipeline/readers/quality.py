"""The lead quality report (``lead_quality_report`` asset): counts from the store's tables, and a chart.

Read through the store interface only (``iter_leads``, ``changes``, ``quarantine_rows``), so both back ends work:

* ``leads_by_source``: leads per ``sourceFile`` (the file that last wrote each lead);
* ``valid_email_share`` / ``valid_phone_share`` / ``named_share``: share (0..1, 4 decimals) of leads whose email is
  a plausible address (the store keeps only validated, normalized emails, or NULL), whose phone is ``+`` and 6-15
  digits or 6-15 digits (E.164 length, ITU-T E.164), and that have a first or last name;
* ``duplicates_resolved``: rows merged away inside files (sum of ``mergedRowIds`` of the audit's
  ``batch_duplicate_resolved`` rows);
* ``quarantine_by_reason``: quarantined rows per reason (the text before the first ``:``, as the ingest stats do).
"""
from __future__ import annotations

import base64
import io
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?\d{6,15}$")


@dataclass
class QualityReport:
    """Counts describing the leads table (see the module docstring for each field's meaning)."""

    total_leads: int = 0
    leads_by_source: dict[str, int] = field(default_factory=dict)
    with_valid_email: int = 0
    with_valid_phone: int = 0
    with_name: int = 0
    duplicates_resolved: int = 0
    quarantined: int = 0
    quarantine_by_reason: dict[str, int] = field(default_factory=dict)

    def share(self, count: int) -> float:
        """``count / total_leads`` rounded to 4 decimals (0.0 for an empty table)."""
        return round(count / self.total_leads, 4) if self.total_leads else 0.0

    @property
    def valid_email_share(self) -> float:
        """Share of leads with a valid email."""
        return self.share(self.with_valid_email)

    @property
    def valid_phone_share(self) -> float:
        """Share of leads with a valid phone."""
        return self.share(self.with_valid_phone)

    @property
    def named_share(self) -> float:
        """Share of leads with a first or last name."""
        return self.share(self.with_name)

    def to_dict(self) -> dict[str, Any]:
        """All counts plus the three shares, JSON-able."""
        out = asdict(self)
        out.update(valid_email_share=self.valid_email_share, valid_phone_share=self.valid_phone_share,
                   named_share=self.named_share)
        return out


def reason_key(reason: str) -> str:
    """A quarantine reason's group: the text before the first ``:`` (``"footer: Total 12"`` -> ``"footer"``)."""
    return (reason or "").split(":", 1)[0].strip() or (reason or "unknown")


def quality_report(store) -> QualityReport:
    """Compute the :class:`QualityReport` of ``store`` (a ``LeadStore``), streaming the leads.

    Raises:
        StoreLockTimeout: the store stayed locked.
    """
    report = QualityReport()
    _count_leads(report, store.iter_leads(None, chunk_size=2000))
    report.duplicates_resolved = sum(
        len((change.get("details") or {}).get("mergedRowIds") or []) or 1
        for change in store.changes() if change.get("action") == "batch_duplicate_resolved"
    )
    reasons = Counter(reason_key(row.get("reason") or "") for row in store.quarantine_rows())
    report.quarantined = sum(reasons.values())
    report.quarantine_by_reason = _by_count(reasons)
    return report


def _by_count(counts: Counter) -> dict[str, int]:
    """``counts`` as a dict, largest count first, ties by name."""
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _count_leads(report: QualityReport, leads) -> None:
    """Add the leads' totals to ``report``: count, per source file, valid email, valid phone, with a name."""
    by_source: Counter = Counter()
    for lead in leads:
        report.total_leads += 1
        by_source[lead.get("sourceFile") or "(unknown)"] += 1
        report.with_valid_email += bool(lead.get("email") and _EMAIL.match(str(lead["email"])))
        report.with_valid_phone += bool(lead.get("phone") and _PHONE.match(str(lead["phone"])))
        report.with_name += bool(lead.get("firstName") or lead.get("lastName"))
    report.leads_by_source = _by_count(by_source)


def render_chart_png(report: QualityReport) -> bytes:
    """A PNG (matplotlib, Agg backend) with two panels: leads per source file (top 15) and the three shares.

    Raises:
        ImportError: matplotlib is not installed.
    """
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), dpi=100)
    left, right = fig.subplots(1, 2)
    sources = list(report.leads_by_source.items())[:15]
    if sources:
        names = [n if len(n) <= 28 else n[:25] + "..." for n, _ in sources][::-1]
        left.barh(names, [c for _, c in sources][::-1], color="#4C72B0")
    left.set_title(f"Leads by source file ({report.total_leads} leads)")
    left.set_xlabel("leads")
    labels = ["valid email", "valid phone", "has name"]
    values = [report.valid_email_share * 100, report.valid_phone_share * 100, report.named_share * 100]
    bars = right.bar(labels, values, color=["#55A868", "#C44E52", "#8172B2"])
    for bar, value in zip(bars, values):
        right.text(bar.get_x() + bar.get_width() / 2, value + 1, f"{value:.1f}%", ha="center")
    right.set_ylim(0, 110)
    right.set_title("Share of leads (%)")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def chart_markdown(png: bytes, alt: str = "lead quality") -> str:
    """Markdown showing ``png`` inline: ``![alt](data:image/png;base64,...)``."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


__all__ = ["QualityReport", "chart_markdown", "quality_report", "reason_key", "render_chart_png"]
