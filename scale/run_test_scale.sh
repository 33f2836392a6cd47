#!/usr/bin/env bash
# make test-scale: the ingest job past one machine, for real, on loopback.
#
# Installs (if missing) and starts PostgreSQL and Redis from Debian's packages in a temp dir on free ports, a moto
# server (DynamoDB, the leads store) and the fake DeepSeek (latency 0.5 s), writes a DAGSTER_HOME with
# deploy/dagster.yaml (PostgreSQL storage, pool `deepseek` = 5), starts two Celery workers with deploy/celery.yaml,
# then runs easycrm_tests_scale.check: `easycrm ingest A B C` with EASYCRM_EXECUTOR=celery, and the checks.
# Everything it started is stopped on exit (trap). Last line: "N passed, M failed".
#
# Environment: PYTHON (default .venv/bin/python), SCALE_IO (s3 default, or fs), SCALE_LEADS_PER_FILE (default 100),
# SCALE_WORKER_CONCURRENCY (processes per worker, default 4), SCALE_KEEP=1 keeps the temp dir (logs) after the run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-$ROOT/.venv/bin/python}
BIN=$(dirname "$PY")
export PATH="$BIN:$PATH"  # dagster-celery starts `celery` from PATH
LEADS_PER_FILE=${SCALE_LEADS_PER_FILE:-100}
CONCURRENCY=${SCALE_WORKER_CONCURRENCY:-4}  # 2 x 4 worker processes > 5 slots: the pool, not the workers, caps DeepSeek
T0=$(date +%s)
WORK=$(mktemp -d /tmp/easycrm-scale.XXXXXX)
chmod 755 "$WORK"
SUMMARY="0 passed, 1 failed"
WORKER_PIDS=()
BG_PIDS=()
PG_STARTED=""
REDIS_STARTED=""

log() { echo "[scale $(( $(date +%s) - T0 ))s] $*"; }

as_pg() {  # run a PostgreSQL server binary as the postgres user when we are root (initdb refuses root)
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cleanup() {
  local rc=$?
  set +e
  log "stopping everything this script started"
  for pid in "${WORKER_PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null; done   # each worker is its own session
  for _ in $(seq 1 40); do
    alive=0
    for pid in "${WORKER_PIDS[@]}"; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.5
  done
  for pid in "${WORKER_PIDS[@]}"; do kill -KILL -- "-$pid" 2>/dev/null; done
  for pid in "${BG_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${BG_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  [ -n "$REDIS_STARTED" ] && redis-cli -p "$REDIS_PORT" -a "$REDIS_PASSWORD" --no-auth-warning shutdown nosave >/dev/null 2>&1
  [ -n "$PG_STARTED" ] && as_pg "$PGBIN/pg_ctl" -D "$WORK/pg/data" -m fast -w stop >/dev/null 2>&1
  if [ -n "${SCALE_KEEP:-}" ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
  log "total $(( $(date +%s) - T0 )) s"
  # a failure outside the checks (set-up, a timeout) still counts as one failed
  if [ "$rc" != 0 ] && [[ "$SUMMARY" == *", 0 failed" ]]; then SUMMARY="${SUMMARY%, 0 failed}, 1 failed"; fi
  echo "$SUMMARY"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_for_file() {  # wait_for_file PATH SECONDS WHAT
  for _ in $(seq 1 $(( $2 * 10 ))); do [ -s "$1" ] && return 0; sleep 0.1; done
  log "timed out waiting for $3"; return 1
}

# ---------------------------------------------------------------------------------------------------- packages
need_apt=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
if [ "${#need_apt[@]}" -gt 0 ]; then
  log "apt-get install ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >"$WORK/apt.log" 2>&1 \
    || { tail -20 "$WORK/apt.log"; exit 1; }
  # The packages' own services (cluster 'main' on 5432, redis on 6379) are not ours to leave running.
  for v in /etc/postgresql/*/main; do
    if [ -d "$v" ] && command -v pg_ctlcluster >/dev/null 2>&1; then
      pg_ctlcluster "$(basename "$(dirname "$v")")" main stop >/dev/null 2>&1 || true
    fi
  done
  if pgrep -x redis-server >/dev/null 2>&1; then service redis-server stop >/dev/null 2>&1 || true; fi
fi
PGBIN=$(dirname "$(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
if ! "$PY" -c 'import dagster_celery, dagster_postgres, psycopg2, redis' 2>/dev/null; then
  log "pip install -e '.[test,scale]'"
  "$PY" -m pip install --quiet --disable-pip-version-check -e "$ROOT[test,scale]"
fi

if ! EASYCRM_EXECUTOR=celery "$PY" -c 'from easycrm_pipeline.dagster_defs.jobs import execution_config as e
assert "celery" in e(True)["execution"]["config"]' 2>/dev/null; then
  log "easycrm_pipeline.dagster_defs.jobs has no EASYCRM_EXECUTOR=celery (the ingest job's executor must accept it)"
  exit 1
fi

# ------------------------------------------------------------------------------------------------- PostgreSQL
PG_PORT=$(free_port)
export DAGSTER_PG_HOST=127.0.0.1 DAGSTER_PG_PORT=$PG_PORT DAGSTER_PG_USER=dagster DAGSTER_PG_DB=easycrm_dagster
DAGSTER_PG_PASSWORD=$("$PY" -c 'import secrets; print(secrets.token_hex(12))')
export DAGSTER_PG_PASSWORD
mkdir -p "$WORK/pg"
[ "$(id -u)" = 0 ] && chown postgres "$WORK/pg"
as_pg "$PGBIN/initdb" -D "$WORK/pg/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
  --no-sync >"$WORK/pg_initdb.log" 2>&1 || { tail -20 "$WORK/pg_initdb.log"; exit 1; }
as_pg "$PGBIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/server.log" -w -t 60 \
  -o "-p $PG_PORT -k $WORK/pg -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c max_connections=300" \
  start >/dev/null || { tail -20 "$WORK/pg/server.log"; exit 1; }
PG_STARTED=1
as_pg "$PGBIN/psql" -h "$WORK/pg" -p "$PG_PORT" -U postgres -q -v ON_ERROR_STOP=1 \
  -c "CREATE ROLE $DAGSTER_PG_USER LOGIN PASSWORD '$DAGSTER_PG_PASSWORD'" \
  -c "CREATE DATABASE $DAGSTER_PG_DB OWNER $DAGSTER_PG_USER"
log "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT (database $DAGSTER_PG_DB)"

# ------------------------------------------------------------------------------------------------------ Redis
REDIS_PORT=$(free_port)
REDIS_PASSWORD=$("$PY" -c 'import secrets; print(secrets.token_hex(12))')
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --requirepass "$REDIS_PASSWORD" --daemonize yes \
  --pidfile "$WORK/redis.pid" --dir "$WORK" --logfile "$WORK/redis.log" --save '' --appendonly no
REDIS_STARTED=1
for _ in $(seq 1 50); do
  redis-cli -p "$REDIS_PORT" -a "$REDIS_PASSWORD" --no-auth-warning ping 2>/dev/null | grep -q PONG && break
  sleep 0.1
done
export EASYCRM_CELERY_BROKER="redis://:$REDIS_PASSWORD@127.0.0.1:$REDIS_PORT/0"
export EASYCRM_CELERY_BACKEND="redis://:$REDIS_PASSWORD@127.0.0.1:$REDIS_PORT/1"
log "Redis $(redis-server --version | awk '{print $3}') on 127.0.0.1:$REDIS_PORT"

# ----------------------------------------------------------------------------- moto (DynamoDB) + fake DeepSeek
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing AWS_SECURITY_TOKEN=testing
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
: >"$WORK/aws_config"; : >"$WORK/aws_credentials"
export AWS_CONFIG_FILE="$WORK/aws_config" AWS_SHARED_CREDENTIALS_FILE="$WORK/aws_credentials"
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"
"$PY" -m easycrm_tests_scale.moto_service --port-file "$WORK/moto.port" >"$WORK/moto.log" 2>&1 &
BG_PIDS+=($!)
DEEPSEEK_KEY="sk-scale-$("$PY" -c 'import secrets; print(secrets.token_hex(6))')"
"$PY" -m easycrm_pipeline.testing.fake_deepseek --port 0 --latency 0.5 --api-key "$DEEPSEEK_KEY" \
  --port-file "$WORK/deepseek.port" >"$WORK/deepseek.log" 2>&1 &
BG_PIDS+=($!)
wait_for_file "$WORK/moto.port" 60 "moto server"
wait_for_file "$WORK/deepseek.port" 60 "fake DeepSeek"
export AWS_ENDPOINT_URL="http://127.0.0.1:$(cat "$WORK/moto.port")"
export EASYCRM_STORE=dynamodb EASYCRM_DYNAMODB_TABLE=easycrm-scale-leads
# Step outputs through S3 (moto), as between machines that share no disk; SCALE_IO=fs keeps Dagster's default
# filesystem IO manager ($DAGSTER_HOME/storage, shared here because everything is on one machine).
if [ "${SCALE_IO:-s3}" = s3 ]; then export EASYCRM_IO_S3_BUCKET=easycrm-scale-io EASYCRM_IO_S3_PREFIX=dagster-io; fi
export DEEPSEEK_API_KEY=$DEEPSEEK_KEY DEEPSEEK_BASE_URL="http://127.0.0.1:$(cat "$WORK/deepseek.port")"
log "moto (DynamoDB) at $AWS_ENDPOINT_URL, fake DeepSeek (latency 0.5 s) at $DEEPSEEK_BASE_URL"

# ---------------------------------------------------------------------------- DAGSTER_HOME + two Celery workers
export DAGSTER_HOME="$WORK/dagster_home"
mkdir -p "$DAGSTER_HOME"
cp deploy/dagster.yaml "$DAGSTER_HOME/dagster.yaml"
export EASYCRM_EXECUTOR=celery
export EASYCRM_DB="$WORK/unused.duckdb"  # never opened with EASYCRM_STORE=dynamodb
# Create Dagster's PostgreSQL schema once, before the workers: two workers starting together on an empty database
# both run its CREATE TABLE / CREATE TYPE and one fails ("type \"snapshots\" already exists").
"$BIN/python" -c 'import dagster as dg; dg.DagsterInstance.get().dispose()'
log "Dagster storage ready in PostgreSQL"
WORKERS=(scale-w1 scale-w2)
for name in "${WORKERS[@]}"; do
  # setsid: each worker (the dagster-celery CLI, celery's main process and its pool) is one process group.
  setsid "$BIN/dagster-celery" worker start -A dagster_celery.app -y deploy/celery.yaml -n "$name" \
    -i easycrm_pipeline.preload -l INFO -- --concurrency "$CONCURRENCY" --logfile "$WORK/$name.log" \
    >"$WORK/$name.out" 2>&1 &
  WORKER_PIDS+=($!)
done
for i in "${!WORKERS[@]}"; do
  name=${WORKERS[$i]}
  for _ in $(seq 1 1200); do
    grep -q " ready\." "$WORK/$name.log" 2>/dev/null && break
    kill -0 "${WORKER_PIDS[$i]}" 2>/dev/null || break
    sleep 0.1
  done
  grep -q " ready\." "$WORK/$name.log" 2>/dev/null \
    || { log "worker $name not ready"; tail -n 30 "$WORK/$name.out" "$WORK/$name.log" 2>/dev/null; exit 1; }
done
log "Celery workers ${WORKERS[*]} ready ($CONCURRENCY processes each)"

# ------------------------------------------------------------------------------------------------- the checks
set +e
timeout 480 "$PY" -m easycrm_tests_scale.check --work "$WORK" --deepseek-url "$DEEPSEEK_BASE_URL" \
  --workers "$(IFS=,; echo "${WORKERS[*]}")" --leads-per-file "$LEADS_PER_FILE" | tee "$WORK/check.log"
rc=${PIPESTATUS[0]}
set -e
SUMMARY=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$WORK/check.log" | tail -1)
[ -n "$SUMMARY" ] || SUMMARY="0 passed, 1 failed"
if [ "$rc" != 0 ]; then
  for name in "${WORKERS[@]}"; do echo "--- $name.log (tail)"; tail -25 "$WORK/$name.log"; done
fi
exit "$rc"  # cleanup prints the summary again as the very last line, after everything is stopped
