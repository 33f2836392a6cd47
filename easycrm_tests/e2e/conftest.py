"""Registers the ``e2e`` marker (tests that start the real Dagster webserver and daemon as subprocesses).

Deselect them with ``pytest -m "not e2e"``.
"""


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "e2e: end-to-end test starting the real dagster-webserver and dagster-daemon subprocesses"
    )
