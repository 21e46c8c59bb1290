'use strict';
// Client matrix: node mysql2.
//
// Modes (first argument, default "query"):
//   query    connection.query(): parameters escaped into COM_QUERY text
//   execute  connection.execute(): COM_STMT_PREPARE / COM_STMT_EXECUTE, binary rows
//
// mysql2 sets CLIENT_FOUND_ROWS, so UPDATE reports matched rows, not changed rows.
// mysql2 asks MariaDB for extended column metadata (MARIADB_CLIENT_EXTENDED_METADATA); with it,
// a JSON column is marked as JSON and mysql2 returns it parsed (an object), without it, as a
// string. Plain MariaDB 10.11 grants it, so the parsed value is what a client sees.
// Results are read with supportBigNumbers + bigNumberStrings (BIGINT and DECIMAL as strings)
// and dateStrings (DATE/DATETIME/TIMESTAMP as the server's text, microseconds kept).

const crypto = require('crypto');
const mysql = require('mysql2/promise');

// column, SQL type, value in row 1 ("low"), value in row 2 ("high"); row 3 is all NULL.
// The values are the bound arguments; the expected results are the same except that BigInt
// comes back as a decimal string (bigNumberStrings) and JSON text as the parsed value.
const COLUMNS = [
  ['c_tinyint', 'TINYINT', -128, 127],
  ['c_smallint', 'SMALLINT', -32768, 32767],
  ['c_int', 'INT', -2147483648, 2147483647],
  ['c_bigint', 'BIGINT', -9223372036854775808n, 9223372036854775807n],
  ['c_ubigint', 'BIGINT UNSIGNED', 0n, 18446744073709551615n],
  ['c_decimal', 'DECIMAL(20,6)', '-12345678901234.123456', '99999999999999.999999'],
  ['c_float', 'FLOAT', -0.15625, 1e10],
  ['c_double', 'DOUBLE', -Number.MAX_VALUE, 2.2250738585072014e-308],
  ['c_date', 'DATE', '1000-01-01', '9999-12-31'],
  ['c_datetime', 'DATETIME(6)', '1000-01-01 00:00:00.000001', '9999-12-31 23:59:59.999999'],
  ['c_time', 'TIME', '-838:59:59', '838:59:59'],
  ['c_timestamp', 'TIMESTAMP NULL', '2000-01-01 00:00:00', '2037-12-31 23:59:59'],
  ['c_varchar', 'VARCHAR(64)', '', 'Grüße, café, ñandú 😀🚀 日本語'],
  ['c_blob', 'BLOB', Buffer.from([0]),
    Buffer.concat([Buffer.from('\x00\x01\xff\x00 bin\x00', 'latin1'),
      Buffer.from([...Array(256).keys()])])],
  ['c_json', 'JSON', '[]', '{"k": [1, 2.5, "é😀"], "n": null}'],
];
const TAGS = { 1: 'low', 2: 'high', 3: 'nulls' };
const NAMES = ['id', 'tag', ...COLUMNS.map((c) => c[0])];
const BIG_SIZE = 5 * 1024 * 1024;

class Mismatch extends Error {}

const show = (v) => (Buffer.isBuffer(v)
  ? `Buffer(${v.length} bytes) ${v.subarray(0, 64).toString('hex')}`
  : `${typeof v}(${typeof v === 'string' ? JSON.stringify(v) : String(v)})`);

function expect(what, want, got) {
  const equal = Buffer.isBuffer(want)
    ? Buffer.isBuffer(got) && want.equals(got)
    : typeof want === typeof got && JSON.stringify(want) === JSON.stringify(got)
      && (typeof want !== 'number' || Object.is(want, got));
  if (!equal) throw new Mismatch(`${what}: expected ${show(want)}, got ${show(got)}`);
}

const argumentsOf = (id) => [id, TAGS[id],
  ...COLUMNS.map((c) => ({ 1: c[2], 2: c[3] }[id] ?? null))];
const expectedRow = (id) => argumentsOf(id).map((v, i) => {
  if (typeof v === 'bigint') return v.toString();
  return NAMES[i] === 'c_json' && v !== null ? JSON.parse(v) : v;
});

async function run(conn, mode, table) {
  // query() or execute(), by mode, for every statement with parameters.
  const param = (sql, args) => conn[mode](sql, args);
  const plain = async (sql) => (await conn.query(sql))[0];
  const compareRow = (what, want, got) => NAMES.forEach((n, i) => expect(`${what}: ${n}`, want[i], got[n]));

  // Table
  await plain(`DROP TABLE IF EXISTS ${table}`);
  await plain(`CREATE TABLE ${table} (id INT AUTO_INCREMENT PRIMARY KEY,`
    + ` tag VARCHAR(32) NOT NULL UNIQUE, ${COLUMNS.map((c) => `${c[0]} ${c[1]}`).join(', ')},`
    + ' c_long LONGBLOB) DEFAULT CHARSET=utf8mb4 AUTO_INCREMENT=100');

  // Types: bound on insert, read back by a plain query and with a parameter.
  const marks = NAMES.map(() => '?').join(', ');
  for (const id of [1, 2, 3]) {
    await param(`INSERT INTO ${table} (${NAMES.join(', ')}) VALUES (${marks})`, argumentsOf(id));
  }
  const select = `SELECT ${NAMES.join(', ')} FROM ${table}`;
  const rows = await plain(`${select} WHERE id <= 3 ORDER BY id`);
  expect('plain read: row count', 3, rows.length);
  rows.forEach((row, i) => compareRow(`plain read of row ${i + 1}`, expectedRow(i + 1), row));
  for (const id of [1, 2, 3]) {
    const [one] = await param(`${select} WHERE id = ?`, [id]);
    expect(`parameter read of row ${id}: row count`, 1, one.length);
    compareRow(`parameter read of row ${id}`, expectedRow(id), one[0]);
  }
  // Parameters compared server-side: row 2 must be found by its extreme values.
  const keys = COLUMNS.slice(3, 8); // BIGINT .. DOUBLE
  const [found] = await param(`SELECT id FROM ${table} WHERE ${keys.map((c) => `${c[0]} = ?`).join(' AND ')}`,
    keys.map((c) => c[3]));
  expect('lookup of row 2 by bound high values', [{ id: 2 }], found);

  // Affected rows: row 1 changes (-128 -> 127), row 2 already holds 127: matched 2, changed 1.
  const [update] = await param(`UPDATE ${table} SET c_tinyint = ? WHERE id IN (?, ?)`, [127, 1, 2]);
  expect('UPDATE affected rows (CLIENT_FOUND_ROWS: matched rows)', 2, update.affectedRows);
  const [insert] = await param(`INSERT INTO ${table} (tag) VALUES (?)`, ['ai']);
  const [ai] = await plain(`SELECT id FROM ${table} WHERE tag = 'ai'`);
  expect('last insert id', ai.id, insert.insertId);
  expect('AUTO_INCREMENT value', 100, insert.insertId);

  // Errors, each followed by a query on the same connection.
  for (const [what, sql, args, code] of [
    ['syntax error', 'SELEC ?', [1], 1064],
    ['duplicate key', `INSERT INTO ${table} (tag) VALUES (?)`, ['ai'], 1062],
  ]) {
    const err = await param(sql, args).then(() => null, (e) => e);
    if (err === null) throw new Mismatch(`${what}: expected error ${code}, the statement succeeded`);
    expect(`${what}: error code`, code, err.errno);
    expect(`SELECT 1 after ${what}`, [{ 1: 1 }], await plain('SELECT 1'));
  }

  // Transactions
  for (const [tag, finish] of [['rolled-back', 'rollback'], ['committed', 'commit']]) {
    await conn.beginTransaction();
    await param(`INSERT INTO ${table} (tag) VALUES (?)`, [tag]);
    await conn[finish]();
  }
  expect('rows left by a rolled-back and a committed transaction', [{ tag: 'committed' }],
    await plain(`SELECT tag FROM ${table} WHERE tag IN ('rolled-back', 'committed')`));

  // A 5 MiB value
  const big = crypto.randomBytes(BIG_SIZE);
  await param(`INSERT INTO ${table} (tag, c_long) VALUES (?, ?)`, ['big', big]);
  const reads = {
    plain: (await plain(`SELECT c_long FROM ${table} WHERE tag = 'big'`))[0].c_long,
    parameter: (await param(`SELECT c_long FROM ${table} WHERE tag = ?`, ['big']))[0][0].c_long,
  };
  for (const [how, got] of Object.entries(reads)) {
    if (!Buffer.isBuffer(got) || !big.equals(got)) {
      const first = Buffer.isBuffer(got) ? [...big].findIndex((b, i) => b !== got[i]) : -1;
      throw new Mismatch(`5 MiB value, ${how} read: expected ${big.length} bytes, got `
        + `${Buffer.isBuffer(got) ? got.length : show(got)} bytes, first difference at offset ${first}`);
    }
  }
}

async function main() {
  const mode = process.argv[2] || 'query';
  const fail = (msg) => {
    console.error(`FAIL mysql2 ${mode}: ${msg}`);
    process.exit(1);
  };
  if (!['query', 'execute'].includes(mode)) fail('unknown mode (query|execute)');
  const env = process.env;
  const missing = ['MYSHARD_HOST', 'MYSHARD_PORT', 'MYSHARD_USER', 'MYSHARD_DB'].filter((v) => !(v in env));
  if (missing.length) fail(`missing environment variables: ${missing.join(', ')}`);
  let conn;
  try {
    conn = await mysql.createConnection({
      host: env.MYSHARD_HOST,
      port: Number(env.MYSHARD_PORT),
      user: env.MYSHARD_USER,
      password: env.MYSHARD_PASSWORD || '',
      database: env.MYSHARD_DB,
      charset: 'UTF8MB4_GENERAL_CI',
      supportBigNumbers: true,
      bigNumberStrings: true,
      dateStrings: true,
    });
    await run(conn, mode, `cm_mysql2_${mode}`);
  } catch (e) {
    fail(e instanceof Mismatch ? e.message : `unexpected exception: ${e.stack}`);
  } finally {
    if (conn) await conn.end();
  }
  console.log(`OK mysql2 ${mode}`);
}

main();
