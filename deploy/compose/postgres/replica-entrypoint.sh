#!/bin/bash
# Entrypoint of a replica: on first start (empty data directory) copy the primary with
# pg_basebackup, which also writes standby.signal and primary_conninfo (-R), then hand over to the
# official image's entrypoint, which starts PostgreSQL as a hot standby. Later starts skip the
# copy. REPLICATION_SLOT names this replica's slot, created by primary-init.sh.
set -euo pipefail

: "${PGDATA:=/var/lib/postgresql/data}"
: "${PRIMARY_HOST:?PRIMARY_HOST must name the primary service}"
: "${REPLICATION_SLOT:?set REPLICATION_SLOT to the slot of this replica}"
: "${PRIMARY_PORT:=5432}"
secrets=${SECRETS_DIR:-/run/secrets}   # overridable to try the script outside a container

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA"
  chown postgres:postgres "$PGDATA"
  chmod 700 "$PGDATA"
  until gosu postgres pg_isready --host "$PRIMARY_HOST" --port "$PRIMARY_PORT" --quiet; do
    echo "replica: waiting for $PRIMARY_HOST" >&2
    sleep 1
  done
  echo "replica: base backup from $PRIMARY_HOST (slot $REPLICATION_SLOT)" >&2
  PGPASSWORD=$(cat "$secrets/replication_password") gosu postgres \
    pg_basebackup --host "$PRIMARY_HOST" --port "$PRIMARY_PORT" --username replicator \
    --pgdata "$PGDATA" --wal-method stream --write-recovery-conf \
    --slot "$REPLICATION_SLOT" --checkpoint fast --progress
fi

exec docker-entrypoint.sh "$@"
