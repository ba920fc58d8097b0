#!/usr/bin/env bash
# Local Apache Kafka from Maven Central jars, no Docker: one broker, or a cluster of BROKERS (e.g. 3) on this machine.
#   kafka.sh fetch        copy the pinned broker jars into infra/kafka/libs (cached by Maven after the first run)
#   kafka.sh start [ID]   format KRaft storage once, start every node (or node ID) in the background, wait until
#                         each answers and the cluster serves from all of its brokers
#   kafka.sh stop [ID]    stop every node (or node ID) cleanly (SIGTERM, then SIGKILL after a timeout)
#   kafka.sh kill ID      kill -9 node ID (fault tests: no clean shutdown); `start ID` brings it back
#   kafka.sh status       exit 0 when every node runs and answers (authenticated as the admin)
#   kafka.sh bootstrap    the clients' bootstrap list, e.g. 127.0.0.1:29092,127.0.0.1:29094,127.0.0.1:29096
#   kafka.sh info         the active controller, the brokers, partition leaders per broker, the busiest broker
#                         and under-replicated partitions, as key=value lines (ClusterInfo.java)
#   kafka.sh in-sync [S]  waits (at most S seconds, default 180) until every broker serves and every partition
#                         has all its replicas in sync (a node that came back has caught up), then prints info
# BROKERS=1 (the default) is the single broker of `make up`: state in $LEDGERLINE_STATE_DIR/kafka (default
# <repo>/.state/kafka), port 9092, controller 9093. BROKERS=3 is a cluster of three combined broker+controller
# nodes (a three-voter metadata quorum), state in .../kafka-cluster/node-<id>, node <id> on port
# 29090+2*<id> with its controller on the next port; every topic has three replicas and min.insync.replicas=2.
# KAFKA_PORT moves the first node's port (the others follow in steps of two).
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
brokers="${BROKERS:-1}"
[[ "$brokers" =~ ^[1-9]$ ]] || { echo "kafka: BROKERS must be a number from 1 to 9, not '$brokers'" >&2; exit 2; }
if [ "$brokers" = 1 ]; then
  state="$state_root/kafka"
  first_port="${KAFKA_PORT:-9092}"
  replication=1 min_isr=1
else
  # A cluster of its own: other state, other ports, so it runs beside the single broker.
  state="$state_root/kafka-cluster"
  first_port="${KAFKA_PORT:-29092}"
  replication=$(( brokers < 3 ? brokers : 3 )) min_isr=$(( brokers < 3 ? 1 : 2 ))
fi
libs="$here/libs"
heap="${KAFKA_HEAP:-512m}"
credentials="$state_root/kafka-credentials.env"
mark="$state/security"
security_version="sasl-scram-sha-512+acls/1"
nodes=$(seq 1 "$brokers")

log() { echo "kafka: $*" >&2; }

# Where node $1 lives: the single broker keeps the layout it always had.
node_dir() { if [ "$brokers" = 1 ]; then echo "$state"; else echo "$state/node-$1"; fi; }
port_of() { echo $(( first_port + 2 * ($1 - 1) )); }
controller_port_of() {
  if [ "$brokers" = 1 ]; then echo "${KAFKA_CONTROLLER_PORT:-$(( first_port + 1 ))}"; else echo $(( $(port_of "$1") + 1 )); fi
}
voters() { local id; for id in $nodes; do printf '%s%s@127.0.0.1:%s' "$([ "$id" = 1 ] || echo ,)" "$id" "$(controller_port_of "$id")"; done; }
bootstrap() { local id; for id in $nodes; do printf '%s127.0.0.1:%s' "$([ "$id" = 1 ] || echo ,)" "$(port_of "$id")"; done; echo; }

credential() { sed -n "s/^$1=//p" "$credentials" 2>/dev/null | head -n 1; }

ensure_credentials() {
  LEDGERLINE_STATE_DIR="$state_root" "$repo/.venv/bin/python" -m ledgerline_cli.kafka_security credentials
}

# What the storage was formatted with: the security set-up and (a digest of) the passwords the broker itself uses.
expected_mark() {
  printf '%s %s\n' "$security_version" \
    "$(printf '%s:%s' "$(credential admin)" "$(credential controller)" | sha256sum | cut -c1-16)"
}

formatted() { [ -f "$(node_dir "$1")/data/meta.properties" ]; }

# Storage formatted without authentication (PLAINTEXT, an older set-up) or for other passwords cannot be used:
# format it again. Only this local broker's data goes (topics, records, consumer offsets); PostgreSQL is untouched.
migrate() {
  local id any=""
  for id in $nodes; do formatted "$id" && any=1; done
  [ -n "$any" ] || return 0
  [ "$(cat "$mark" 2>/dev/null)" = "$(expected_mark)" ] && return 0
  local why="it was formatted without authentication (PLAINTEXT, an older set-up)"
  [ -f "$mark" ] && why="it was formatted for other broker credentials"
  log "re-formatting the local broker's storage in $state: $why; SASL/SCRAM and ACLs are on now."
  log "local broker data only: its topics, records and consumer offsets are lost; PostgreSQL is untouched."
  for id in $nodes; do if running "$id"; then stop_node "$id"; fi; rm -rf "$(node_dir "$id")/data"; done
  rm -rf "$state/acls-applied" "$mark"
}

render_properties() {
  local id="$1" dir admin_password controller_password
  dir="$(node_dir "$id")"
  admin_password="$(credential admin)"
  controller_password="$(credential controller)"
  [ -n "$admin_password" ] && [ -n "$controller_password" ] || { log "no admin/controller password in $credentials"; return 1; }
  ( umask 077
    sed -e "s|@STATE_DIR@|$dir|g" -e "s|@PORT@|$(port_of "$id")|g" -e "s|@CONTROLLER_PORT@|$(controller_port_of "$id")|g" \
      -e "s|@LISTEN_HOST@|127.0.0.1|g" -e "s|@ADVERTISED_HOST@|127.0.0.1|g" \
      -e "s|@NODE_ID@|$id|g" -e "s|@VOTERS@|$(voters)|g" -e "s|@REPLICATION@|$replication|g" -e "s|@MIN_ISR@|$min_isr|g" \
      -e "s|@ADMIN_PASSWORD@|$admin_password|g" -e "s|@CONTROLLER_PASSWORD@|$controller_password|g" \
      "$here/server.properties.in" > "$dir/server.properties" )
  chmod 600 "$dir/server.properties"
}

# Every node of a cluster is formatted with the same cluster id and the same SCRAM users (the metadata the
# quorum starts from).
format() {
  local id="$1" dir
  dir="$(node_dir "$id")"
  [ -f "$state/cluster-id" ] || java "${java_opts[@]}" kafka.tools.StorageTool random-uuid > "$state/cluster-id"
  log "formatting KRaft storage of node $id (cluster id $(cat "$state/cluster-id")) with a SCRAM user per principal"
  local users=() line
  while IFS= read -r line; do users+=(--add-scram "$line"); done < <(
    LEDGERLINE_STATE_DIR="$state_root" "$repo/.venv/bin/python" -m ledgerline_cli.kafka_security scram-args)
  java "${java_opts[@]}" kafka.tools.StorageTool format -t "$(cat "$state/cluster-id")" -c "$dir/server.properties" \
    -g "${users[@]}" > "$dir/logs/format.log" 2>&1 || { log "format failed:"; cat "$dir/logs/format.log" >&2; return 1; }
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

# JVM flags as Kafka's own kafka-run-class.sh sets them, with a small heap; the logs go to each node's folder.
java_opts=(-Xms"$heap" -Xmx"$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
  -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true
  -Dlog4j.configuration="file:$here/log4j.properties" -cp "$libs/*")
node_java_opts() { echo "-Dkafka.logs.dir=$(node_dir "$1")/logs"; }
# More JVM flags for the brokers (space-separated). A cluster's nodes live minutes (tests, `make up BROKERS=3`) on
# two cores: C1 alone compiles for a fraction of C2's CPU, which measured at about half the brokers' CPU per test
# (tests/test_cluster.py). The single broker keeps the full JIT for `make bench`. KAFKA_JVM_OPTS= (empty) undoes it.
if [ "$brokers" = 1 ]; then default_jvm_opts=""; else default_jvm_opts="-XX:TieredStopAtLevel=1"; fi
read -r -a extra_java_opts <<< "${KAFKA_JVM_OPTS-$default_jvm_opts}"

pidfile() { echo "$(node_dir "$1")/kafka.pid"; }

running() {
  local pidfile; pidfile="$(pidfile "$1")"
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

answers() {
  # A metadata round trip as the admin, not just an open port: node $1 has finished starting and authenticates,
  # and the cluster serves from all its brokers (a node that rejoins counts once it is registered and unfenced).
  KAFKA_ADMIN_PASSWORD="$(credential admin)" "$repo/.venv/bin/python" - "$(port_of "$1")" "$brokers" <<'PY' 2>/dev/null
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
        cluster = await admin.describe_cluster()
        if len(cluster["brokers"]) < int(sys.argv[2]):
            sys.exit(1)
    finally:
        await admin.close()

asyncio.run(main())
PY
}

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$(port_of "$1")") 2>/dev/null; }
# Bound by anyone, listening or connected (an outgoing connection may hold it as its local port; not TIME-WAIT,
# which the broker's SO_REUSEADDR binds over): a broker there would not start.
port_taken() { ss -tanH exclude time-wait 2>/dev/null | awk '{print $4}' | grep -qE "[:.]$1\$"; }

# The nodes named on the command line, or all of them.
chosen() {
  if [ -n "${1:-}" ]; then
    [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le "$brokers" ] || { log "no node '$1' among 1..$brokers"; return 2; }
    echo "$1"
  else
    echo "$nodes"
  fi
}

start() {
  local which id started=()
  which="$(chosen "${1:-}")"
  fetch
  mkdir -p "$state"
  # One start at a time per state directory (test sessions and `make up` may start together): a migration or a
  # first format is never raced by a second start.
  if command -v flock >/dev/null; then exec 9>"$state/.start.lock"; flock 9; fi
  ensure_credentials
  migrate
  for id in $which; do
    mkdir -p "$(node_dir "$id")/data" "$(node_dir "$id")/logs"
    if ! running "$id" && listening "$id" && answers "$id"; then
      log "a broker already answers on 127.0.0.1:$(port_of "$id") (not ours, but it knows our admin); using it"
    elif running "$id"; then
      log "node $id already running (pid $(cat "$(pidfile "$id")"))"
    elif port_taken "$(port_of "$id")" || port_taken "$(controller_port_of "$id")"; then
      log "node $id: port $(port_of "$id") or $(controller_port_of "$id") is taken by another process:"
      ss -ltnp 2>/dev/null | grep -E ":($(port_of "$id")|$(controller_port_of "$id"))\b" >&2 || true
      return 1
    else
      render_properties "$id"
      formatted "$id" || format "$id"
      # setsid: the broker outlives the shell (and make's process group) that started it.
      setsid nohup java "${java_opts[@]}" "${extra_java_opts[@]}" "$(node_java_opts "$id")" kafka.Kafka "$(node_dir "$id")/server.properties" \
        > "$(node_dir "$id")/logs/stdout.log" 2>&1 < /dev/null 9>&- &
      echo $! > "$(pidfile "$id")"
      started+=("$id")
      log "node $id started pid $(cat "$(pidfile "$id")"), log $(node_dir "$id")/logs/server.log"
    fi
  done
  # A cluster's nodes start together: none answers before the quorum has a leader, so wait for them all at once.
  local deadline=$(( SECONDS + 120 ))
  while [ "$SECONDS" -lt "$deadline" ]; do
    local waiting=""
    for id in $which; do
      # The client listener opens last in a broker's start: until then, a free port check instead of a client.
      listening "$id" && answers "$id" && continue
      waiting=1
      running "$id" || { [[ " ${started[*]} " == *" $id "* ]] || continue
        log "node $id exited; last log lines:"
        grep -hE "ERROR|FATAL|Exception" "$(node_dir "$id")/logs/server.log" "$(node_dir "$id")/logs/stdout.log" 2>/dev/null | head -n 20 >&2
        tail -n 30 "$(node_dir "$id")/logs/server.log" "$(node_dir "$id")/logs/stdout.log" >&2 || true; return 1; }
    done
    if [ -z "$waiting" ]; then log "ready on $(bootstrap)"; return 0; fi
    sleep 0.5
  done
  log "not answering after 120 s"; return 1
}

stop_node() {
  local id="$1" pid pidfile
  pidfile="$(pidfile "$id")"
  if ! running "$id"; then rm -f "$pidfile"; return 0; fi
  pid="$(cat "$pidfile")"
  kill -TERM "$pid"
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; log "node $id stopped"; return 0; }
    sleep 0.5
  done
  log "node $id: no clean stop after 30 s, killing"; kill -KILL "$pid" 2>/dev/null || true; rm -f "$pidfile"
}

stop() {
  local which id pids=()
  which="$(chosen "${1:-}")"
  # A cluster's nodes are asked to stop together: a node alone cannot finish a controlled shutdown without a quorum.
  for id in $which; do stop_node "$id" & pids+=($!); done
  wait "${pids[@]}"
}

kill_node() {
  local id pid
  id="$(chosen "${1:?kill needs a node id}")"
  running "$id" || { log "node $id is not running"; return 1; }
  pid="$(cat "$(pidfile "$id")")"
  kill -KILL "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  rm -f "$(pidfile "$id")"
  log "node $id killed (kill -9, pid $pid)"
}

# ClusterInfo.java with the Security.java it reuses, compiled once per version of their sources; any arguments
# go to it (in-sync: the broker count and a timeout).
info() {
  local classes
  classes="$state/classes/$(cat "$here/ClusterInfo.java" "$here/Security.java" | sha256sum | cut -c1-12)"
  if [ ! -f "$classes/ClusterInfo.class" ]; then
    mkdir -p "$classes"
    javac -nowarn -cp "$libs/*" -sourcepath "$here" -d "$classes" "$here/ClusterInfo.java"
    echo "log4j.rootLogger=OFF" > "$classes/log4j.properties"  # the admin client's chatter is not the answer
  fi
  printf '{"bootstrap": "%s", "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
    "admin": {"name": "admin", "password": "%s"}}' "$(bootstrap)" "$(credential admin)" |
    java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Dlog4j.configuration="file:$classes/log4j.properties" \
      -cp "$classes:$libs/*" ClusterInfo "$@"
}

status() {
  local id
  for id in $nodes; do running "$id" && answers "$id" || return 1; done
}

case "${1:-}" in
  fetch) fetch ;;
  start) start "${2:-}" ;;
  stop) stop "${2:-}" ;;
  kill) kill_node "${2:-}" ;;
  status) status ;;
  bootstrap) bootstrap ;;
  info) info ;;
  in-sync) info "$brokers" "${2:-180}" ;;
  *) echo "usage: [BROKERS=n] $0 fetch|start [id]|stop [id]|kill id|status|bootstrap|info|in-sync [s]" >&2; exit 2 ;;
esac
