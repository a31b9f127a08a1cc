// The driver scenario (tests/drivers/README.md) on node-postgres (`pg`, pinned in
// package-lock.json). A query without values goes over the simple protocol, one with values over
// the extended protocol, one with a `name` is a named prepared statement parsed once per
// connection. COPY: both directions through pg-copy-streams (pg itself has no COPY API; that
// package is what node-postgres documents for it). Cancel: pg's Client.cancel(client, query),
// which opens a new connection and sends a CancelRequest with the client's key.
'use strict';

const fs = require('fs');
const { pipeline } = require('stream/promises');
const { Readable, Writable } = require('stream');
const pg = require('pg');
const copyStreams = require('pg-copy-streams');

const TABLE = 'drivers_node';
const SETTINGS_QUERY = "select current_setting('DateStyle'), current_setting('TimeZone'), " +
    "current_setting('application_name'), current_setting('extra_float_digits'), " +
    "'2024-01-02 03:04:05+00'::timestamptz::text";
const SLEEP_QUERY = 'select pg_sleep(20) /* drivers cancel node */';

function env(name) {
  const value = process.env[name];
  if (value === undefined) throw new Error(`missing environment ${name}`);
  return value;
}

function config(extra) {
  return {
    host: env('DRIVER_HOST'),
    port: Number(env('DRIVER_PORT')),
    database: env('DRIVER_DATABASE'),
    user: env('DRIVER_USER'),
    password: env('DRIVER_PASSWORD'),
    connectionTimeoutMillis: 10000,
    application_name: 'drivers-node',
    // node-postgres does not read PGTZ (libpq does): the time zone goes in `options`.
    options: `-c TimeZone=${env('PGTZ')}`,
    ssl: false,
    ...extra,
  };
}

async function connect(extra) {
  const client = new pg.Client(config(extra));
  await client.connect();
  return client;
}

const text = (value) => (value === null ? 'NULL' : String(value));
// Rows as arrays, so that the columns come in the statement's order.
const rowText = (row) => row.map(text).join('|');

async function failure(client, sql) {
  try {
    await client.query(sql);
  } catch (e) {
    return `${e.code} ${e.message}`;
  }
  return 'no error';
}

async function copySteps(client) {
  const rows = [];
  for (let id = 101; id <= 105; ++id) rows.push(`${id}\tcopy-${id}\t1.0${id - 100}\n`);
  const into = client.query(copyStreams.from(`copy ${TABLE} (id, name, amount) from stdin`));
  await pipeline(Readable.from(rows), into);
  console.log(`copy in: ${into.rowCount}`);

  const chunks = [];
  const out = client.query(
    copyStreams.to(
      `copy (select id, name, amount from ${TABLE} where id > 100 order by id) to stdout`));
  await pipeline(out, new Writable({
    write(chunk, _encoding, done) {
      chunks.push(chunk);
      done();
    },
  }));
  const lines = Buffer.concat(chunks).toString().replace(/\n$/, '').split('\n');
  console.log(`copy out: ${lines.map((l) => l.replaceAll('\t', ',')).join(';')}`);
}

async function cancelSteps(client) {
  const monitor = await connect();
  const sleeping = failure(client, SLEEP_QUERY);
  let seen = 'not seen';
  const deadline = Date.now() + 10000;
  while (Date.now() < deadline) {
    const r = await monitor.query(
      "select count(*)::int as n from pg_stat_activity where query = $1 and state = 'active'",
      [SLEEP_QUERY]);
    if (r.rows[0].n > 0) {
      new pg.Client(config()).cancel(client, client.activeQuery);
      seen = 'sent';
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const outcome = await sleeping;
  await monitor.end();
  if (seen !== 'sent') console.log(`cancel request: ${seen}`);
  console.log(`cancel: ${outcome}`);
  console.log(`after cancel: ${(await client.query('select 1 as one')).rows[0].one}`);
}

async function tlsSteps() {
  const tls = (ca) => ({
    host: env('DRIVER_TLS_HOST'),
    // verify-full: the chain up to `ca` and the host name (Node's checkServerIdentity).
    ssl: { ca: fs.readFileSync(ca), rejectUnauthorized: true },
  });
  const verified = await connect(tls(env('DRIVER_CA')));
  const over = (await verified.query("select 'over ' || 'tls' as t")).rows[0].t;
  console.log(`tls verify-full: encrypted=${verified.connection.stream.encrypted === true} ${over}`);
  await verified.end();
  try {
    const untrusted = await connect(tls(env('DRIVER_WRONG_CA')));
    await untrusted.end();
    console.log('tls untrusted: accepted');
  } catch (e) {
    console.log('tls untrusted: refused');
  }
}

async function main() {
  const version = require('pg/package.json').version;
  const copyVersion = require('pg-copy-streams/package.json').version;
  console.log(`driver: node-postgres ${version} (pg-copy-streams ${copyVersion}, node ` +
              `${process.versions.node})`);
  const client = await connect();
  console.log('connect: ok');
  try {
    const refused = await connect({ password: 'wrong' });
    await refused.end();
    console.log('bad password: accepted');
  } catch (e) {
    console.log(`bad password: refused ${e.code} ${e.message}`);
  }
  const simple = await client.query({ text: "select 1 as a, 'two' as b", rowMode: 'array' });
  console.log(`simple: ${rowText(simple.rows[0])}`);

  await client.query(`drop table if exists ${TABLE}; ` +
                     `create table ${TABLE} (id int primary key, name text, amount numeric(6,2))`);
  console.log('setup: ok');

  const insert = `insert into ${TABLE} (id, name, amount) values ($1, $2, $3)`;
  let inserted = 0;
  for (const values of [[1, 'one', '1.50'], [2, 'two', '2.50'], [3, null, null]]) {
    inserted += (await client.query(insert, values)).rowCount;
  }
  console.log(`extended insert: ${inserted}`);
  const select = (id) => client.query({
    text: `select id, name, amount from ${TABLE} where id = $1`,
    values: [id],
    rowMode: 'array',
  });
  console.log(`extended select: ${rowText((await select(2)).rows[0])}`);
  console.log(`extended null: ${rowText((await select(3)).rows[0])}`);

  let answers = 0;
  let sum = 0;
  for (let i = 1; i <= 100; ++i) {
    const r = await client.query({ name: 'double_it', text: 'select $1::int * 2 as d', values: [i] });
    sum += r.rows[0].d;
    ++answers;
  }
  console.log(`prepared: ${answers} ${sum}`);
  const settings = await client.query({ text: SETTINGS_QUERY, rowMode: 'array' });
  console.log(`settings: ${rowText(settings.rows[0])}`);

  await client.query('begin');
  await client.query(`insert into ${TABLE} (id, name) values (10, 'ten')`);
  console.log('transaction error: ' +
              await failure(client, `insert into ${TABLE} (id, name) values (10, 'again')`));
  console.log(`transaction aborted: ${(await failure(client, 'select 1')).slice(0, 5)}`);
  await client.query('rollback');
  const count = await client.query(`select count(*)::int as n from ${TABLE}`);
  console.log(`transaction rollback: ${count.rows[0].n}`);

  await copySteps(client);
  await cancelSteps(client);
  console.log(`error: ${await failure(client, 'select * from drivers_missing')}`);
  await client.end();
  await tlsSteps();
}

// Exits at once: sockets pg leaves behind (the cancel connection, the refused TLS attempt) would
// keep the event loop alive for seconds.
main().then(() => process.exit(0), (e) => {
  console.error(`scenario failed: ${e.stack || e}`);
  process.exit(1);
});
