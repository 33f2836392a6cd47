"""Finding the same person under another email, or with none (issue 18): blocking keys (:mod:`.keys`), pair
scoring with evidence (:mod:`.score`), candidates and recorded pairs (:mod:`.pairs`), a generated gold set
(:mod:`.gold`). Pure Python (rapidfuzz): no Dagster, no DuckDB."""
