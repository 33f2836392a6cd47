"""Tests of the pure drop-zone logic (easycrm_pipeline.dropzone)."""
