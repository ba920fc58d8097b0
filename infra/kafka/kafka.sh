#!/usr/bin/env bash
# Local Apache Kafka broker from Maven Central jars, no Docker.
#   kafka.sh fetch    copy the pinned broker jars into infra/kafka/libs (cached by Maven after the first run)
#   kafka.sh start    format KRaft storage once, start the broker in the background, wait until it answers
#   kafka.sh stop     stop it cleanly (SIGTERM, then SIGKILL after a timeout)
#   kafka.sh status   exit 0 when the broker runs and answers
# State (data, pid, logs) lives in $LEDGERLINE_STATE_DIR/kafka (default: <repo>/.state/kafka).
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

log() { echo "kafka: $*" >&2; }

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
  # A metadata round trip, not just an open port: the broker has finished starting.
  "$repo/.venv/bin/python" - "$port" <<'PY' 2>/dev/null
import asyncio, sys
from aiokafka.admin import AIOKafkaAdminClient

async def main() -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=f"127.0.0.1:{sys.argv[1]}", request_timeout_ms=3000)
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
  mkdir -p "$state/data" "$state/logs"
  if ! running && answers; then
    log "a broker already answers on 127.0.0.1:$port (not ours); using it"
    return 0
  fi
  if running; then
    log "already running (pid $(cat "$pidfile"))"
  else
    sed -e "s|@STATE_DIR@|$state|g" -e "s|@PORT@|$port|g" -e "s|@CONTROLLER_PORT@|$controller_port|g" \
      "$here/server.properties.in" > "$state/server.properties"
    if [ ! -f "$state/data/meta.properties" ]; then
      [ -f "$state/cluster-id" ] || java "${java_opts[@]}" kafka.tools.StorageTool random-uuid > "$state/cluster-id"
      log "formatting KRaft storage (cluster id $(cat "$state/cluster-id"))"
      java "${java_opts[@]}" kafka.tools.StorageTool format -t "$(cat "$state/cluster-id")" -c "$state/server.properties" -g \
        > "$state/logs/format.log" 2>&1
    fi
    # setsid: the broker outlives the shell (and make's process group) that started it.
    setsid nohup java "${java_opts[@]}" kafka.Kafka "$state/server.properties" \
      > "$state/logs/stdout.log" 2>&1 < /dev/null &
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
