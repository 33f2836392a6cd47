"""``easycrm`` console-script entry point (``pyproject.toml``: ``easycrm_pipeline.cli.main:main``); the app itself
is ``cli/app.py`` (docs/contracts.md#command-line). ``python -m easycrm_pipeline.cli.main ARGS`` runs it too."""
from __future__ import annotations

import sys

from easycrm_pipeline.cli.app import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
