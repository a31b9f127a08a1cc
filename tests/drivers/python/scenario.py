"""The driver scenario (tests/drivers/README.md) on psycopg 3.

Run with Debian's /usr/bin/python3 (python3-psycopg). psycopg sends a query without parameters
over the simple protocol and one with parameters over the extended protocol; prepare=True makes a
named server-side statement. COPY: both directions (cursor.copy). Cancel: Connection.cancel()
from another thread.
"""

import os
import sys
import threading
import time

import psycopg

TABLE = "drivers_psycopg"
SETTINGS_QUERY = (
    "select current_setting('DateStyle'), current_setting('TimeZone'), "
    "current_setting('application_name'), current_setting('extra_float_digits'), "
    "'2024-01-02 03:04:05+00'::timestamptz::text"
)
SLEEP_QUERY = "select pg_sleep(20) /* drivers cancel psycopg */"


def env(name):
    return os.environ[name]


def conninfo(host, **extra):
    return psycopg.conninfo.make_conninfo(
        host=host,
        port=env("DRIVER_PORT"),
        dbname=env("DRIVER_DATABASE"),
        user=env("DRIVER_USER"),
        password=env("DRIVER_PASSWORD"),
        connect_timeout=10,
        application_name="drivers-psycopg",
        **extra,
    )


def connect_plain():
    return psycopg.connect(conninfo(env("DRIVER_HOST"), sslmode="disable"), autocommit=True)


def text(value):
    return "NULL" if value is None else str(value)


def row_text(row):
    return "|".join(text(v) for v in row)


def error_text(e):
    return f"{e.sqlstate} {e.diag.message_primary}"


def failure(conn, sql, params=None):
    try:
        conn.execute(sql, params)
    except psycopg.Error as e:
        return error_text(e)
    return "no error"


def cancel_steps(conn):
    seen = ["not seen"]

    def canceller():
        with connect_plain() as monitor:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                n = monitor.execute(
                    "select count(*) from pg_stat_activity where query = %s and state = 'active'",
                    (SLEEP_QUERY,),
                ).fetchone()[0]
                if n:
                    conn.cancel()
                    seen[0] = "sent"
                    return
                time.sleep(0.02)

    thread = threading.Thread(target=canceller)
    thread.start()
    outcome = failure(conn, SLEEP_QUERY)
    thread.join()
    if seen[0] != "sent":
        print(f"cancel request: {seen[0]}")
    print(f"cancel: {outcome}")
    print(f"after cancel: {conn.execute('select 1').fetchone()[0]}")


def tls_steps():
    tls = dict(sslmode="verify-full")
    with psycopg.connect(
        conninfo(env("DRIVER_TLS_HOST"), sslrootcert=env("DRIVER_CA"), **tls)
    ) as c:
        over = c.execute("select 'over ' || 'tls'").fetchone()[0]
        print(f"tls verify-full: ssl_in_use={int(c.pgconn.ssl_in_use)} {over}")
    try:
        psycopg.connect(
            conninfo(env("DRIVER_TLS_HOST"), sslrootcert=env("DRIVER_WRONG_CA"), **tls)
        ).close()
        print("tls untrusted: accepted")
    except psycopg.OperationalError:
        print("tls untrusted: refused")


def main():
    print(f"driver: psycopg {psycopg.__version__} (libpq {psycopg.pq.version()}, "
          f"{psycopg.pq.__impl__} implementation)")
    conn = connect_plain()
    print("connect: ok")
    try:
        psycopg.connect(conninfo(env("DRIVER_HOST"), sslmode="disable") + " password=wrong").close()
        print("bad password: accepted")
    except psycopg.OperationalError as e:
        # Through libpq: no SQLSTATE for a refused login, the FATAL line of the message it is.
        fatal = [line for line in str(e).splitlines() if "FATAL:  " in line]
        print("bad password: refused "
              + (fatal[0].split("FATAL:  ", 1)[1] if fatal else "without FATAL"))
    print("simple: " + row_text(conn.execute("select 1 as a, 'two' as b").fetchone()))

    conn.execute(
        f"drop table if exists {TABLE}; "
        f"create table {TABLE} (id int primary key, name text, amount numeric(6,2))"
    )
    print("setup: ok")

    insert = f"insert into {TABLE} (id, name, amount) values (%s, %s, %s)"
    inserted = 0
    for params in ((1, "one", "1.50"), (2, "two", "2.50"), (3, None, None)):
        inserted += conn.execute(insert, params).rowcount
    print(f"extended insert: {inserted}")
    select = f"select id, name, amount from {TABLE} where id = %s"
    print(f"extended select: {row_text(conn.execute(select, (2,)).fetchone())}")
    print(f"extended null: {row_text(conn.execute(select, (3,)).fetchone())}")

    answers = 0
    total = 0
    for i in range(1, 101):
        total += conn.execute("select %s::int * 2", (i,), prepare=True).fetchone()[0]
        answers += 1
    print(f"prepared: {answers} {total}")
    # libpq sends TimeZone from PGTZ at startup.
    print("settings: " + row_text(conn.execute(SETTINGS_QUERY).fetchone()))

    conn.autocommit = False
    conn.execute(f"insert into {TABLE} (id, name) values (10, 'ten')")
    print("transaction error: "
          + failure(conn, f"insert into {TABLE} (id, name) values (10, 'again')"))
    print(f"transaction aborted: {failure(conn, 'select 1')[:5]}")
    conn.rollback()
    conn.autocommit = True
    print(f"transaction rollback: {conn.execute(f'select count(*) from {TABLE}').fetchone()[0]}")

    with conn.cursor() as cur:
        with cur.copy(f"copy {TABLE} (id, name, amount) from stdin") as copy:
            for i in range(101, 106):
                copy.write_row((i, f"copy-{i}", f"1.0{i - 100}"))
        print(f"copy in: {cur.rowcount}")
        data = bytearray()
        with cur.copy(
            f"copy (select id, name, amount from {TABLE} where id > 100 order by id) to stdout"
        ) as copy:
            for chunk in copy:
                data += chunk
    lines = data.decode().rstrip("\n").split("\n")
    print("copy out: " + ";".join(line.replace("\t", ",") for line in lines))

    cancel_steps(conn)
    print(f"error: {failure(conn, 'select * from drivers_missing')}")
    conn.close()
    tls_steps()


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # the transcript stops here; the test shows stderr
        sys.stdout.flush()
        print(f"scenario failed: {e!r}", file=sys.stderr)
        sys.exit(1)
