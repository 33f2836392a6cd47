"""Scale test (``make test-scale``, ``scale/run_test_scale.sh``): the ingest job on a PostgreSQL-backed Dagster
instance with its steps on two Celery workers (Redis broker), DynamoDB (moto) as the store, the fake DeepSeek with
latency. Not collected by ``make test`` (pytest's ``testpaths`` is ``easycrm_tests``); it needs PostgreSQL, Redis
and the ``scale`` extra, which the script installs and starts.
"""
