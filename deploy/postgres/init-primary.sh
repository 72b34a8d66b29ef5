#!/bin/sh
# Runs once on the primary's first start (docker-entrypoint-initdb.d): the replication role and its
# pg_hba line, so the standby can stream WAL. Password from the environment (a secret in production).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE ROLE replikator WITH REPLICATION LOGIN PASSWORD '${REPLICATION_PASSWORD}';
SELECT pg_create_physical_replication_slot('standby1');
SQL
echo "host replication replikator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
