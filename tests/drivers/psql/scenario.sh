#!/usr/bin/env bash
# The driver scenario (tests/drivers/README.md) as psql 15 runs it. psql has only the simple
# protocol (\bind arrived in psql 16), so the extended steps run as literal SQL and say so, and the
# prepared statement is SQL-level PREPARE/EXECUTE in one session, the way psql users reuse one.
# COPY: both directions with \copy (COPY FROM STDIN / TO STDOUT on the wire). Cancel: SIGINT to a
# psql running pg_sleep, on which psql sends a CancelRequest. libpq's own API (extended protocol,
# protocol-level prepared statements) is covered by libpq/scenario.cpp.
set -euo pipefail

table=drivers_psql
sleep_query="select pg_sleep(20) /* drivers cancel psql */"
conninfo="port=$DRIVER_PORT dbname=$DRIVER_DATABASE user=$DRIVER_USER connect_timeout=10 application_name=drivers-psql"
export PGPASSWORD=$DRIVER_PASSWORD
# Unaligned, tuples only, '|' between fields, NULL spelled out; errors do not stop a script, their
# SQLSTATE and message are echoed from :LAST_ERROR_SQLSTATE and :LAST_ERROR_MESSAGE.
psql_plain() {
  psql -X -q -A -t -F '|' -P null=NULL -v ON_ERROR_STOP=0 -v table="$table" \
    "host=$DRIVER_HOST $conninfo sslmode=disable" "$@"
}

echo "driver: psql $(psql --version | awk '{print $3}')"

# psql exits 2 on a refused login and prints libpq's message, whose FATAL line is the server's.
refused=$(PGPASSWORD=wrong psql -X -A -t "host=$DRIVER_HOST $conninfo sslmode=disable" -c 'select 1' 2>&1 || true)
echo "bad password: refused $(sed -n 's/.*FATAL:  //p' <<<"$refused" | head -n 1)"

psql_plain 2>/dev/null <<'EOF'
\echo connect: ok
\echo -n 'simple: '
select 1 as a, 'two' as b;
drop table if exists :table;
create table :table (id int primary key, name text, amount numeric(6,2));
\echo setup: ok
insert into :table (id, name, amount) values (1, 'one', 1.50), (2, 'two', 2.50), (3, null, null);
\echo extended insert: :ROW_COUNT (one literal INSERT: psql 15 has no extended protocol)
\echo -n 'extended select: '
select id, name, amount from :table where id = 2;
\echo -n 'extended null: '
select id, name, amount from :table where id = 3;
EOF

{
  echo "prepare double_it(int) as select \$1 * 2;"
  for i in $(seq 1 100); do echo "execute double_it($i);"; done
  echo "deallocate double_it;"
} | psql_plain 2>&1 | awk '/^[0-9]+$/ { n++; s += $1; next } { if (!e++) first = $0 }
  END { printf "prepared: %d %d%s\n", n, s, e ? " (" e " errors, first: " first ")" : "" }'

# libpq sends TimeZone from PGTZ at startup.
psql_plain 2>/dev/null <<'EOF'
\echo -n 'settings: '
select current_setting('DateStyle'), current_setting('TimeZone'),
  current_setting('application_name'), current_setting('extra_float_digits'),
  '2024-01-02 03:04:05+00'::timestamptz::text;
EOF

psql_plain 2>/dev/null <<'EOF'
begin;
insert into :table (id, name) values (10, 'ten');
insert into :table (id, name) values (10, 'again');
\echo transaction error: :LAST_ERROR_SQLSTATE :LAST_ERROR_MESSAGE
select 1;
\echo transaction aborted: :LAST_ERROR_SQLSTATE
rollback;
\echo -n 'transaction rollback: '
select count(*) from :table;
EOF

copied=$(for id in 101 102 103 104 105; do printf '%s\tcopy-%s\t1.0%s\n' $id $id $((id - 100)); done |
  psql_plain -c "\\copy $table (id, name, amount) from stdin" -c '\echo :ROW_COUNT' 2>&1)
echo "copy in: $copied"
echo "copy out: $(psql_plain -c "\\copy (select id, name, amount from $table where id > 100 order by id) to stdout" 2>&1 |
  tr '\t\n' ',;' | sed 's/;$//')"

# The cancel: a psql running pg_sleep gets SIGINT once another session sees the query active, and
# sends a CancelRequest. A non-interactive psql exits after a cancel (status 3), so the step after
# it runs in a new session. Job control starts the background psql in its own process group with
# SIGINT at its default (a non-interactive shell would start it with SIGINT ignored).
set -m
out=$(mktemp)
psql -X -q -A -t -v VERBOSITY=verbose "host=$DRIVER_HOST $conninfo sslmode=disable" \
  -c "$sleep_query" >"$out" 2>&1 &
sleeper=$!
set +m
seen="not seen"
for _ in $(seq 1 200); do
  n=$(psql_plain -c "select count(*) from pg_stat_activity where query = '$sleep_query' and state = 'active'")
  if [ "$n" != 0 ]; then
    kill -INT -- "-$sleeper"
    seen=sent
    break
  fi
  sleep 0.05
done
wait "$sleeper" || true
[ "$seen" = sent ] || echo "cancel request: $seen"
echo "cancel: $(sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\): /\1 /p' "$out")"
rm -f "$out"
echo "after cancel: $(psql_plain -c 'select 1')"

psql_plain 2>/dev/null <<'EOF'
select * from drivers_missing;
\echo error: :LAST_ERROR_SQLSTATE :LAST_ERROR_MESSAGE
EOF

tls="host=$DRIVER_TLS_HOST $conninfo sslmode=verify-full"
echo "tls verify-full: $(psql -X -A -t "$tls sslrootcert=$DRIVER_CA" -c "select 'over ' || 'tls'" 2>&1)"
if psql -X -A -t "$tls sslrootcert=$DRIVER_WRONG_CA" -c 'select 1' >/dev/null 2>&1; then
  echo "tls untrusted: accepted"
else
  echo "tls untrusted: refused"
fi
