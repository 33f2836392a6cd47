"""Read-side logic (no Dagster): CSV export, questions answered by validated read-only SQL, the quality report.

``export`` - :func:`export.write_leads_csv`; ``ask`` - :func:`ask.validate_sql`, :func:`ask.answer`;
``quality`` - :func:`quality.quality_report`.
"""
