#!/bin/bash
# The part of the official postgres image's docker-entrypoint.sh that deploy/compose relies on,
# for the image built from Debian's packages (Dockerfile next to this file):
#   - as root: create $PGDATA (0700, owned by postgres) and the socket directory, then run again
#     as postgres (gosu);
#   - with an empty $PGDATA: initdb as $POSTGRES_USER with the password from $POSTGRES_PASSWORD_FILE
#     (or $POSTGRES_PASSWORD), add `host all all all scram-sha-256` to pg_hba.conf, start a
#     temporary server on the Unix socket only, run /docker-entrypoint-initdb.d/*.sh (executed when
#     executable, sourced otherwise) and *.sql, stop it;
#   - then exec postgres. Anything other than `postgres` as the command is executed as it is.
set -Eeuo pipefail

if [ "${1:0:1}" = - ]; then set -- postgres "$@"; fi
if [ "$1" != postgres ]; then exec "$@"; fi
: "${PGDATA:?PGDATA must be set}"

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  chmod 3777 /var/run/postgresql
  exec gosu postgres "${BASH_SOURCE[0]}" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  export POSTGRES_USER=${POSTGRES_USER:-postgres}
  password=${POSTGRES_PASSWORD:-}
  if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then password=$(<"$POSTGRES_PASSWORD_FILE"); fi
  if [ -z "$password" ]; then
    echo "docker-entrypoint: set POSTGRES_PASSWORD_FILE (or POSTGRES_PASSWORD)" >&2
    exit 1
  fi
  # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of arguments, as in the official image
  initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$password") \
    ${POSTGRES_INITDB_ARGS:-}
  printf '\nhost all all all %s\n' "${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" \
    >>"$PGDATA/pg_hba.conf"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start
  if [ -n "${POSTGRES_DB:-}" ] && [ "$POSTGRES_DB" != postgres ]; then
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
      -v db="$POSTGRES_DB" -c 'CREATE DATABASE :"db"'
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh)
        echo "docker-entrypoint: running $f"
        # shellcheck disable=SC1090 # the init scripts are the user's
        if [ -x "$f" ]; then "$f"; else . "$f"; fi
        ;;
      *.sql)
        echo "docker-entrypoint: running $f"
        psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres -f "$f"
        ;;
      *) [ -e "$f" ] && echo "docker-entrypoint: ignoring $f" ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop
  echo "docker-entrypoint: initialisation done"
fi

exec "$@"
