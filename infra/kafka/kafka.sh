#!/usr/bin/env bash
# Local Apache Kafka broker from Maven Central jars, no Docker.
#   kafka.sh fetch    copy the pinned broker jars into infra/kafka/libs (cached by Maven after the first run)
#   kafka.sh start    format KRaft storage once, start the broker in the background, wait until it answers
#   kafka.sh stop     stop it cleanly (SIGTERM, then SIGKILL after a timeout)
#   kafka.sh status   exit 0 when the broker runs and answers (authenticated as the admin)
# State (data, pid, logs) lives in $LEDGERLINE_STATE_DIR/kafka (default: <repo>/.state/kafka).
#
# Security: clients authenticate with SASL/SCRAM-SHA-512 and Kafka's StandardAuthorizer refuses whatever the ACLs
# do not allow (allow.everyone.if.no.acl.found=false). One password per principal (admin, controller, every
# service, provider and the operator) is generated once into $LEDGERLINE_STATE_DIR/kafka-credentials.env (mode
# 0600, git-ignored) by `python -m ledgerline_cli.kafka_security credentials`; the SCRAM users are made at format
# time (StorageTool --add-scram). The ACLs come later, from ledgerline_contracts.access, once the topics exist
# (`ledgerline stack up`, `make demo`, the test session, the benchmarks: ledgerline_cli.kafka_security.apply).
# Storage formatted by an older, unauthenticated set-up is re-formatted on start (local broker data only).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
state_root="${LEDGERLINE_STATE_DIR:-$repo/.state}"
state="$state_root/kafka"
libs="$here/libs"
port="${KAFKA_PORT:-9092}"
controller_port="${KAFKA_CONTROLLER_PORT:-9093}"
heap="${KAFKA_HEAP:-512m}"
pidfile="$state/kafka.pid"
credentials="$state_root/kafka-credentials.env"
mark="$state/security"
security_version="sasl-scram-sha-512+acls/1"

log() { echo "kafka: $*" >&2; }

credential() { sed -n "s/^$1=//p" "$credentials" 2>/dev/null | head -n 1; }

ensure_credentials() {
  LEDGERLINE_STATE_DIR="$state_root" "$repo/.venv/bin/python" -m ledgerline_cli.kafka_security credentials
}

# What the storage was formatted with: the security set-up and (a digest of) the passwords the broker itself uses.
expected_mark() {
  printf '%s %s\n' "$security_version" \
    "$(printf '%s:%s' "$(credential admin)" "$(credential controller)" | sha256sum | cut -c1-16)"
}

# Storage formatted without authentication (PLAINTEXT, an older set-up) or for other passwords cannot be used:
# format it again. Only this local broker's data goes (topics, records, consumer offsets); PostgreSQL is untouched.
migrate() {
  [ -f "$state/data/meta.properties" ] || return 0
  [ "$(cat "$mark" 2>/dev/null)" = "$(expected_mark)" ] && return 0
  local why="it was formatted without authentication (PLAINTEXT, an older set-up)"
  [ -f "$mark" ] && why="it was formatted for other broker credentials"
  log "re-formatting the local broker's storage in $state/data: $why; SASL/SCRAM and ACLs are on now."
  log "local broker data only: its topics, records and consumer offsets are lost; PostgreSQL is untouched."
  if running; then stop; fi
  rm -rf "$state/data" "$state/acls-applied" "$mark"
}

render_properties() {
  local admin_password controller_password
  admin_password="$(credential admin)"
  controller_password="$(credential controller)"
  [ -n "$admin_password" ] && [ -n "$controller_password" ] || { log "no admin/controller password in $credentials"; return 1; }
  ( umask 077
    sed -e "s|@STATE_DIR@|$state|g" -e "s|@PORT@|$port|g" -e "s|@CONTROLLER_PORT@|$controller_port|g" \
      -e "s|@LISTEN_HOST@|127.0.0.1|g" -e "s|@ADVERTISED_HOST@|127.0.0.1|g" \
      -e "s|@ADMIN_PASSWORD@|$admin_password|g" -e "s|@CONTROLLER_PASSWORD@|$controller_password|g" \
      "$here/server.properties.in" > "$state/server.properties" )
  chmod 600 "$state/server.properties"
}

format() {
  [ -f "$state/cluster-id" ] || java "${java_opts[@]}" kafka.tools.StorageTool random-uuid > "$state/cluster-id"
  log "formatting KRaft storage (cluster id $(cat "$state/cluster-id")) with a SCRAM user per principal"
  local users=() line
  while IFS= read -r line; do users+=(--add-scram "$line"); done < <(
    LEDGERLINE_STATE_DIR="$state_root" "$repo/.venv/bin/python" -m ledgerline_cli.kafka_security scram-args)
  java "${java_opts[@]}" kafka.tools.StorageTool format -t "$(cat "$state/cluster-id")" -c "$state/server.properties" \
    -g "${users[@]}" > "$state/logs/format.log" 2>&1 || { log "format failed:"; cat "$state/logs/format.log" >&2; return 1; }
  expected_mark > "$mark"
}

fetch() {
  if [ -f "$libs/.complete" ] && [ "$libs/.complete" -nt "$here/pom.xml" ]; then
    return 0
  fi
  log "fetching broker jars with Maven (first run downloads ~50 MB)"
  mvn -B -q -f "$here/pom.xml" dependency:copy-dependencies
  touch "$libs/.complete"
}

# JVM flags as Kafka's own kafka-run-class.sh sets them, with a small heap.
java_opts=(-Xms"$heap" -Xmx"$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
  -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true
  -Dlog4j.configuration="file:$here/log4j.properties" -Dkafka.logs.dir="$state/logs" -cp "$libs/*")

running() {
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

answers() {
  # A metadata round trip as the admin, not just an open port: the broker has finished starting and authenticates.
  KAFKA_ADMIN_PASSWORD="$(credential admin)" "$repo/.venv/bin/python" - "$port" <<'PY' 2>/dev/null
import asyncio, os, sys
from aiokafka.admin import AIOKafkaAdminClient

async def main() -> None:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=f"127.0.0.1:{sys.argv[1]}",
        request_timeout_ms=3000,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_plain_username="admin",
        sasl_plain_password=os.environ["KAFKA_ADMIN_PASSWORD"],
    )
    await admin.start()
    try:
        await admin.describe_cluster()
    finally:
        await admin.close()

asyncio.run(main())
PY
}

start() {
  fetch
  mkdir -p "$state/logs"
  # One start at a time per state directory (test sessions and `make up` may start together): a migration or a
  # first format is never raced by a second start.
  if command -v flock >/dev/null; then exec 9>"$state/.start.lock"; flock 9; fi
  ensure_credentials
  migrate
  mkdir -p "$state/data"
  if ! running && answers; then
    log "a broker already answers on 127.0.0.1:$port (not ours, but it knows our admin); using it"
    return 0
  fi
  if running; then
    log "already running (pid $(cat "$pidfile"))"
  else
    render_properties
    [ -f "$state/data/meta.properties" ] || format
    # setsid: the broker outlives the shell (and make's process group) that started it.
    setsid nohup java "${java_opts[@]}" kafka.Kafka "$state/server.properties" \
      > "$state/logs/stdout.log" 2>&1 < /dev/null 9>&- &
    echo $! > "$pidfile"
    log "started pid $(cat "$pidfile"), log $state/logs/server.log"
  fi
  for _ in $(seq 1 120); do
    if answers; then log "ready on 127.0.0.1:$port"; return 0; fi
    running || { log "broker exited; last log lines:"; tail -n 30 "$state/logs/server.log" "$state/logs/stdout.log" >&2 || true; return 1; }
    sleep 0.5
  done
  log "not answering after 60 s"; return 1
}

stop() {
  if ! running; then rm -f "$pidfile"; return 0; fi
  local pid; pid="$(cat "$pidfile")"
  kill -TERM "$pid"
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; log "stopped"; return 0; }
    sleep 0.5
  done
  log "no clean stop after 30 s, killing"; kill -KILL "$pid" 2>/dev/null || true; rm -f "$pidfile"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status) running && answers ;;
  *) echo "usage: $0 fetch|start|stop|status" >&2; exit 2 ;;
esac
