"""The ``easycrm`` command line (docs/contracts.md#command-line)."""
