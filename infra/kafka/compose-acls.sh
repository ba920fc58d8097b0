#!/bin/sh
# Generated from ledgerline_contracts.access by `python -m ledgerline_cli.kafka_security compose-acls`: do not edit
# (tests/test_compose.py checks it is current). The docker-compose stack's ACLs, made with Kafka's own
# kafka-acls.sh as the admin once the topics exist; adding an ACL that exists changes nothing, so it runs on every
# `docker compose up`. Runs in the apache/kafka image, the admin's password in LEDGERLINE_KAFKA_ADMIN_PASSWORD.
set -eu
kafka="${KAFKA_HOME:-/opt/kafka}"
config="$(mktemp -d)"
umask 077
cat > "$config/admin.properties" <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" \
  password="${LEDGERLINE_KAFKA_ADMIN_PASSWORD:?}";
EOF
acl() {
  "$kafka/bin/kafka-acls.sh" --bootstrap-server "${LEDGERLINE_KAFKA_BOOTSTRAP:-kafka:9092}" \
    --command-config "$config/admin.properties" --add --force "$@" > /dev/null
}
acl --allow-principal User:ledger --operation Read --operation Describe --topic ledger.commands.v1
acl --allow-principal User:ledger --operation Read --group ledger
acl --allow-principal User:ledger --operation Write --operation Describe --topic ledger.events.v1 --topic ledger.booking-rejections.v1 --topic ledgerline.command-results.v1 --topic deadletter.ledger.v1
acl --allow-principal User:invoicing --operation Read --operation Describe --topic invoicing.commands.v1 --topic factoring.events.v1 --topic ledger.events.v1 --topic ledger.booking-rejections.v1
acl --allow-principal User:invoicing --operation Read --group invoicing --group invoicing.factoring-events --group invoicing.ledger-events --group invoicing.booking-rejections
acl --allow-principal User:invoicing --operation Write --operation Describe --topic invoicing.events.v1 --topic ledger.commands.v1 --topic ledgerline.command-results.v1 --topic deadletter.invoicing.v1 --topic deadletter.invoicing.factoring-events.v1 --topic deadletter.invoicing.ledger-events.v1 --topic deadletter.invoicing.booking-rejections.v1
acl --allow-principal User:factoring-gateway --operation Read --operation Describe --topic invoicing.events.v1 --topic factoring.commands.v1 --topic factoring.abc-factoring.inbound.v1 --topic factoring.fjord-invoice-sale.inbound.v1
acl --allow-principal User:factoring-gateway --operation Read --group factoring-gateway --group factoring-gateway.commands --group factoring-gateway.abc-factoring --group factoring-gateway.fjord-invoice-sale
acl --allow-principal User:factoring-gateway --operation Write --operation Describe --topic factoring.abc-factoring.outbound.v1 --topic factoring.fjord-invoice-sale.outbound.v1 --topic factoring.events.v1 --topic ledger.commands.v1 --topic ledgerline.command-results.v1 --topic deadletter.factoring-gateway.v1 --topic deadletter.factoring-gateway.commands.v1 --topic deadletter.factoring-gateway.abc-factoring.v1 --topic deadletter.factoring-gateway.fjord-invoice-sale.v1
acl --allow-principal User:financing-gateway --operation Read --operation Describe --topic financing.commands.v1 --topic invoicing.events.v1 --topic ledger.events.v1 --topic financing.buffer.inbound.v1 --topic factoring.events.v1
acl --allow-principal User:financing-gateway --operation Read --group financing-gateway --group financing-gateway.invoicing-events --group financing-gateway.ledger-events --group financing-gateway.buffer --group financing-gateway.factoring-events
acl --allow-principal User:financing-gateway --operation Write --operation Describe --topic financing.buffer.outbound.v1 --topic financing.events.v1 --topic ledger.commands.v1 --topic ledgerline.command-results.v1 --topic deadletter.financing-gateway.v1 --topic deadletter.financing-gateway.invoicing-events.v1 --topic deadletter.financing-gateway.ledger-events.v1 --topic deadletter.financing-gateway.buffer.v1 --topic deadletter.financing-gateway.factoring-events.v1
acl --allow-principal User:abc-factoring --operation Read --operation Describe --topic factoring.abc-factoring.outbound.v1
acl --allow-principal User:abc-factoring --operation Read --group simulator.abc-factoring
acl --allow-principal User:abc-factoring --operation Write --operation Describe --topic factoring.abc-factoring.inbound.v1
acl --allow-principal User:fjord-invoice-sale --operation Read --operation Describe --topic factoring.fjord-invoice-sale.outbound.v1
acl --allow-principal User:fjord-invoice-sale --operation Read --group simulator.fjord-invoice-sale
acl --allow-principal User:fjord-invoice-sale --operation Write --operation Describe --topic factoring.fjord-invoice-sale.inbound.v1
acl --allow-principal User:buffer --operation Read --operation Describe --topic financing.buffer.outbound.v1
acl --allow-principal User:buffer --operation Read --group simulator.buffer
acl --allow-principal User:buffer --operation Write --operation Describe --topic financing.buffer.inbound.v1
acl --allow-principal User:operator --operation Read --operation Describe --topic ledger.commands.v1 --topic ledger.events.v1 --topic ledger.booking-rejections.v1 --topic invoicing.commands.v1 --topic invoicing.events.v1 --topic factoring.commands.v1 --topic factoring.events.v1 --topic financing.commands.v1 --topic financing.events.v1 --topic ledgerline.command-results.v1 --topic financing.buffer.outbound.v1 --topic financing.buffer.inbound.v1 --topic factoring.abc-factoring.outbound.v1 --topic factoring.abc-factoring.inbound.v1 --topic factoring.fjord-invoice-sale.outbound.v1 --topic factoring.fjord-invoice-sale.inbound.v1 --topic deadletter.ledger.v1 --topic deadletter.invoicing.v1 --topic deadletter.invoicing.ledger-events.v1 --topic deadletter.invoicing.factoring-events.v1 --topic deadletter.invoicing.booking-rejections.v1 --topic deadletter.factoring-gateway.v1 --topic deadletter.factoring-gateway.commands.v1 --topic deadletter.factoring-gateway.abc-factoring.v1 --topic deadletter.factoring-gateway.fjord-invoice-sale.v1 --topic deadletter.financing-gateway.v1 --topic deadletter.financing-gateway.invoicing-events.v1 --topic deadletter.financing-gateway.ledger-events.v1 --topic deadletter.financing-gateway.buffer.v1 --topic deadletter.financing-gateway.factoring-events.v1
acl --allow-principal User:operator --operation Write --operation Describe --topic invoicing.commands.v1 --topic ledger.commands.v1 --topic factoring.commands.v1 --topic financing.commands.v1
acl --allow-principal User:operator --operation Describe --group ledger --group invoicing --group invoicing.factoring-events --group invoicing.ledger-events --group invoicing.booking-rejections --group factoring-gateway --group factoring-gateway.commands --group factoring-gateway.abc-factoring --group factoring-gateway.fjord-invoice-sale --group financing-gateway --group financing-gateway.invoicing-events --group financing-gateway.ledger-events --group financing-gateway.buffer --group financing-gateway.factoring-events --group simulator.abc-factoring --group simulator.fjord-invoice-sale --group simulator.buffer
echo "compose-acls: 196 ACLs for 8 principals"
rm -r "$config"
