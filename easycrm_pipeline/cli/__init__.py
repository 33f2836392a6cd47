"""The ``easycrm`` command line (DESIGN.md section 2)."""
