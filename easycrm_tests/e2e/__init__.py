"""End-to-end tests: the real Dagster webserver and daemon as subprocesses (marker ``e2e``)."""
