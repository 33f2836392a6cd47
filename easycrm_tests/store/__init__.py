"""Tests of ``easycrm_pipeline.store`` (the lead stores)."""
