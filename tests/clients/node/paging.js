'use strict';
// Paging scenario of tests/clients/PAGING.md with node mysql2 execute() (COM_STMT_PREPARE once
// per statement text, then COM_STMT_EXECUTE per page; mysql2 caches the prepared statement).
// Connects to the proxy (MYSHARD_*) and to a plain MariaDB (MYSHARD_REF_*).

const mysql = require('mysql2/promise');

const TABLE = 'cm_paging_mysql2';
const IDS = Array.from({ length: 321 }, (_, i) => i - 20); // -20..300
const grp = (id) => ((id % 3) + 3) % 3;
const v = (id) => `row ${id} é`;
const EXPECTED = IDS.filter((id) => grp(id) !== 1).map((id) => ({ id, v: v(id) }));

class Mismatch extends Error {}

function expect(what, want, got) {
  const w = JSON.stringify(want);
  const g = JSON.stringify(got);
  if (w !== g) throw new Mismatch(`${what}: expected ${w}, got ${g}`);
}

async function load(conn) {
  await conn.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await conn.query(`CREATE TABLE ${TABLE} (id BIGINT NOT NULL PRIMARY KEY, grp INT NOT NULL,`
    + ' v VARCHAR(32) NOT NULL) DEFAULT CHARSET=utf8mb4');
  // Multi-row INSERTs of up to 40 rows (the proxy splits each by shard).
  for (let i = 0; i < IDS.length; i += 40) {
    const batch = IDS.slice(i, i + 40);
    await conn.execute(`INSERT INTO ${TABLE} (id, grp, v) VALUES ${batch.map(() => '(?, ?, ?)').join(', ')}`,
      batch.flatMap((id) => [id, grp(id), v(id)]));
  }
}

// A page's rows ({id, v} with id a number), or the MySQL error code it got.
async function page(conn, sql, args) {
  try {
    const [rows] = await conn.execute(sql, args);
    return { rows: rows.map((r) => ({ id: Number(r.id), v: r.v })), code: 0 };
  } catch (e) {
    if (typeof e.errno !== 'number') throw e;
    return { rows: [], code: e.errno };
  }
}

// Executes one statement page by page on both connections until a short page; args(offset,
// last) gives the bound values of the page at offset, after the row with id last.
async function pageThrough(proxy, ref, form, size, args) {
  const sql = `SELECT id, v FROM ${TABLE} WHERE grp <> ? ${form}`;
  const all = [];
  let pages = 0;
  let last = -1000000;
  for (let offset = 0; ; offset += size) {
    const what = `${form}, page at offset ${offset}`;
    const got = await page(proxy, sql, args(offset, last));
    const want = await page(ref, sql, args(offset, last));
    expect(`${what}: error code (0: none)`, want.code, got.code);
    if (want.code !== 0) throw new Mismatch(`${what}: plain MariaDB answered error ${want.code}`);
    expect(`${what}: rows`, want.rows, got.rows);
    pages += 1;
    all.push(...got.rows);
    if (got.rows.length) last = got.rows[got.rows.length - 1].id;
    if (got.rows.length < size || pages > 100) break;
  }
  expect(`${form}: every page together`, EXPECTED, all);
  return pages;
}

async function run(proxy, ref) {
  await load(proxy);
  await load(ref);
  const offsetPages = await pageThrough(proxy, ref, 'ORDER BY id LIMIT ? OFFSET ?', 7, (o) => [1, 7, o]);
  const commaPages = await pageThrough(proxy, ref, 'ORDER BY id LIMIT ?, ?', 5, (o) => [1, o, 5]);
  const keysetPages = await pageThrough(proxy, ref, 'AND id > ? ORDER BY id LIMIT ?', 9,
    (o, last) => [1, last, 9]);
  // Other types for the amounts, compared with MariaDB: a fraction (mysql2 binds every number
  // as a DOUBLE), NULL, a negative count, and strings (also checked against the inserted set).
  const sql = `SELECT id, v FROM ${TABLE} WHERE grp <> ? ORDER BY id LIMIT ? OFFSET ?`;
  const others = [[2.5, 120], [null, 120], [-1, 200], [3, 7.5]];
  for (const amounts of others) {
    const what = `LIMIT ${amounts[0]} OFFSET ${amounts[1]}`;
    const want = await page(ref, sql, [1, ...amounts]);
    const got = await page(proxy, sql, [1, ...amounts]);
    expect(`${what}: error code (0: none)`, want.code, got.code);
    expect(`${what}: rows`, want.rows, got.rows);
  }
  const got = await page(proxy, sql, [1, '5', '120']);
  const want = await page(ref, sql, [1, '5', '120']);
  expect("LIMIT '5' OFFSET '120': error code (0: none)", want.code, got.code);
  expect("LIMIT '5' OFFSET '120': rows", want.rows, got.rows);
  let wrong = `error ${got.code} as MariaDB`;
  if (got.code === 0) {
    expect("LIMIT '5' OFFSET '120': rows against the inserted set", EXPECTED.slice(120, 125), got.rows);
    wrong = `${got.rows.length} rows as MariaDB`;
  }
  const [[{ n }]] = await proxy.query(`SELECT COUNT(*) AS n FROM ${TABLE}`);
  return `${n} rows in ${TABLE}; LIMIT ? OFFSET ?: ${offsetPages} pages;`
    + ` LIMIT ?, ?: ${commaPages} pages; id > ? LIMIT ?: ${keysetPages} pages;`
    + ` ${others.length} other amount types as MariaDB; LIMIT '5' OFFSET '120': ${wrong}`;
}

async function main() {
  const fail = (msg) => {
    console.error(`FAIL mysql2 paging: ${msg}`);
    process.exit(1);
  };
  const env = process.env;
  const missing = ['MYSHARD_HOST', 'MYSHARD_PORT', 'MYSHARD_USER', 'MYSHARD_DB', 'MYSHARD_REF_PORT',
    'MYSHARD_REF_USER', 'MYSHARD_REF_DB'].filter((name) => !env[name]);
  if (missing.length) fail(`missing environment variables: ${missing.join(', ')}`);
  const connect = (port, user, password, database) => mysql.createConnection({
    host: env.MYSHARD_HOST, port: Number(port), user, password: password || '', database,
    charset: 'UTF8MB4_GENERAL_CI',
  });
  let proxy;
  let ref;
  let detail;
  try {
    proxy = await connect(env.MYSHARD_PORT, env.MYSHARD_USER, env.MYSHARD_PASSWORD, env.MYSHARD_DB);
    ref = await connect(env.MYSHARD_REF_PORT, env.MYSHARD_REF_USER, env.MYSHARD_REF_PASSWORD,
      env.MYSHARD_REF_DB);
    detail = await run(proxy, ref);
  } catch (e) {
    fail(e instanceof Mismatch ? e.message : `unexpected exception: ${e.stack}`);
  } finally {
    if (proxy) await proxy.end();
    if (ref) await ref.end();
  }
  console.log(`OK mysql2 execute (${detail})`);
}

main();
