#!/bin/bash
# Runs once, on the primary's first start (the official image's /docker-entrypoint-initdb.d/),
# as the postgres user against the temporary init server. Creates the application's role and
# database, the replication role with one physical slot per replica, and the pg_hba entry that
# lets the replicas stream. Passwords come from compose secrets.
set -euo pipefail

secrets=${SECRETS_DIR:-/run/secrets}   # overridable to try the script outside a container
app_password=$(cat "$secrets/app_password")
replication_password=$(cat "$secrets/replication_password")

# psql variables (:'name') quote the passwords, so any character is safe.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v app_password="$app_password" -v replication_password="$replication_password" <<'SQL'
SET password_encryption = 'scram-sha-256';
CREATE ROLE app LOGIN PASSWORD :'app_password';
CREATE DATABASE app OWNER app;
CREATE ROLE replicator REPLICATION LOGIN PASSWORD :'replication_password';
-- One slot per replica: the primary keeps the WAL a replica has not received yet, so a replica
-- that was down for a while catches up instead of needing a new base backup.
SELECT pg_create_physical_replication_slot('pg2');
SELECT pg_create_physical_replication_slot('pg3');
SQL

# The image's own line (host all all all scram-sha-256) does not cover replication connections.
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
