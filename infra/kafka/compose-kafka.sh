#!/bin/sh
# The docker-compose stack's broker, set up as infra/kafka/kafka.sh sets up the local one: the same
# server.properties.in (SASL/SCRAM-SHA-512 for clients, PLAIN on the controller listener, the StandardAuthorizer,
# nothing allowed without an ACL) and a SCRAM user per principal, made when the storage is formatted.
#
# Runs in the apache/kafka image (docker-compose.yml mounts infra/kafka at /ledgerline and runs this script).
# Passwords come from the environment only: LEDGERLINE_KAFKA_<PRINCIPAL>_PASSWORD (upper case, '-' as '_') for
# the controller and for every name in LEDGERLINE_KAFKA_PRINCIPALS (the admin first). It also writes the admin's
# client configuration ($config/admin.properties) that the health check uses.
set -eu

here="$(cd "$(dirname "$0")" && pwd)"
kafka="${KAFKA_HOME:-/opt/kafka}"
state="${LEDGERLINE_KAFKA_STATE:-/var/lib/kafka}"
config="${LEDGERLINE_KAFKA_CONFIG:-/tmp/ledgerline}"
listen="${LEDGERLINE_KAFKA_LISTEN_HOST:-0.0.0.0}"
advertised="${LEDGERLINE_KAFKA_ADVERTISED_HOST:-kafka}"
port="${LEDGERLINE_KAFKA_PORT:-9092}"
controller_port="${LEDGERLINE_KAFKA_CONTROLLER_PORT:-9093}"

password() {
  variable="LEDGERLINE_KAFKA_$(printf '%s' "$1" | tr 'a-z-' 'A-Z_')_PASSWORD"
  eval "value=\${$variable:-}"
  if [ -z "$value" ]; then
    echo "compose-kafka: $variable is not set" >&2
    return 1
  fi
  printf '%s' "$value"
}

admin_password="$(password admin)"
controller_password="$(password controller)"
mkdir -p "$config" "$state/data"
umask 077
sed -e "s|@STATE_DIR@|$state|g" -e "s|@PORT@|$port|g" -e "s|@CONTROLLER_PORT@|$controller_port|g" \
  -e "s|@LISTEN_HOST@|$listen|g" -e "s|@ADVERTISED_HOST@|$advertised|g" \
  -e "s|@NODE_ID@|1|g" -e "s|@VOTERS@|1@$advertised:$controller_port|g" -e "s|@REPLICATION@|1|g" -e "s|@MIN_ISR@|1|g" \
  -e "s|@ADMIN_PASSWORD@|$admin_password|g" -e "s|@CONTROLLER_PASSWORD@|$controller_password|g" \
  "$here/server.properties.in" > "$config/server.properties"
cat > "$config/admin.properties" <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$admin_password";
EOF

if [ ! -f "$state/data/meta.properties" ]; then
  set --
  for name in ${LEDGERLINE_KAFKA_PRINCIPALS:?list every principal, the admin first}; do
    secret="$(password "$name")"
    set -- "$@" --add-scram "SCRAM-SHA-512=[name=$name,password=$secret]"
  done
  cluster_id="${CLUSTER_ID:-$("$kafka/bin/kafka-storage.sh" random-uuid)}"
  echo "compose-kafka: formatting the storage (cluster id $cluster_id) with a SCRAM user per principal"
  "$kafka/bin/kafka-storage.sh" format -t "$cluster_id" -c "$config/server.properties" -g "$@"
fi
exec "$kafka/bin/kafka-server-start.sh" "$config/server.properties"
