#!/usr/bin/env bash
# First start of the compose PostgreSQL: one role and one database per service, passwords from the environment.
set -euo pipefail
for s in ledger invoicing factoring_gateway financing_gateway; do
  var="LEDGERLINE_PG_${s^^}_PASSWORD"
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres <<SQL
CREATE ROLE ledgerline_$s LOGIN PASSWORD '${!var}';
CREATE DATABASE ledgerline_$s OWNER ledgerline_$s;
REVOKE CONNECT ON DATABASE ledgerline_$s FROM PUBLIC;
SQL
done
