// Mode "sharded": go-sql-driver/mysql with server-side prepared statements against a logical
// schema whose tables are sharded, so every statement is routed by its bound parameter values.
//
// The schema (MYSHARD_DB) must shard cm_go_sharded on k (integer key) and cm_go_sharded_s on
// name (string key, utf8mb4_general_ci). The program creates both tables through the proxy (the
// DDL is broadcast to every shard), inserts rows one by one and in a multi-row statement that
// spans shards, reads them back by key, by IN over several shards and by a scan, updates and
// deletes by key checking affected rows, runs transactions touching shards of both groups
// (rolled back and committed) and checks the router's refusals. Where the rows physically
// landed is checked by the caller on the backends; the closing line says how many rows each
// table holds at the end: "OK go sharded (N rows in cm_go_sharded, M rows in cm_go_sharded_s)".
package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

type shardedRow struct {
	k      int64
	id     int32
	v      string
	amount any // string or nil
	d      any // time.Time or nil
}

func (r shardedRow) key() string { return fmt.Sprintf("%d:%d", r.k, r.id) }

type sharded struct {
	*matrix
	rows map[string]shardedRow // what cm_go_sharded holds, by "k:id"
}

func (s *sharded) affected(what string, res sql.Result, want int64) {
	n, err := res.RowsAffected()
	check(what+": rows affected", err)
	expect(what+": rows affected", want, n)
}

// keyRows reads the rows of one key with a prepared statement (the key is a bound value).
func (s *sharded) keyRows(stmt *sql.Stmt, k int64) []shardedRow {
	rows, err := stmt.QueryContext(s.ctx, k)
	check(fmt.Sprintf("read key %d", k), err)
	defer rows.Close()
	var out []shardedRow
	for rows.Next() {
		var r shardedRow
		var amount sql.NullString
		var d sql.NullTime
		check("scan", rows.Scan(&r.id, &r.v, &amount, &d))
		r.k = k
		if amount.Valid {
			r.amount = amount.String
		}
		if d.Valid {
			r.d = d.Time
		}
		out = append(out, r)
	}
	check("rows", rows.Err())
	return out
}

func (s *sharded) expectedForKey(k int64) []shardedRow {
	var out []shardedRow
	for _, r := range s.rows {
		if r.k == k {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

func (s *sharded) checkKey(stmt *sql.Stmt, k int64) {
	got := s.keyRows(stmt, k)
	want := s.expectedForKey(k)
	expect(fmt.Sprintf("rows of key %d: count", k), len(want), len(got))
	for i := range want {
		what := fmt.Sprintf("key %d row %d", k, want[i].id)
		expect(what+": id", want[i].id, got[i].id)
		expect(what+": v", want[i].v, got[i].v)
		expect(what+": amount", want[i].amount, got[i].amount)
		expect(what+": d", want[i].d, got[i].d)
	}
}

// pairs reads "k:id" of every row a query returns, sorted.
func (s *sharded) pairs(what, query string, args ...any) []string {
	rows := s.queryRows(what, []any{int64(0), int32(0)}, query, args...)
	var out []string
	for _, r := range rows {
		out = append(out, fmt.Sprintf("%d:%d", r[0], r[1]))
	}
	sort.Strings(out)
	return out
}

func (s *sharded) expectedPairs(keep func(shardedRow) bool) []string {
	var out []string
	for _, r := range s.rows {
		if keep(r) {
			out = append(out, r.key())
		}
	}
	sort.Strings(out)
	return out
}

func (s *sharded) mysqlError(what string, err error, code uint16) {
	var myErr *mysql.MySQLError
	if !errors.As(err, &myErr) {
		fail("%s: expected MySQL error %d, got %v", what, code, err)
	}
	expect(what+": error code", code, myErr.Number)
	one := s.queryRows("SELECT 1 after "+what, []any{int64(0)}, "SELECT 1")
	expect("SELECT 1 after "+what, [][]any{{int64(1)}}, one)
}

func runShardedMode(ctx context.Context, conn *sql.Conn) string {
	s := &sharded{matrix: &matrix{ctx: ctx, conn: conn, table: "cm_go_sharded"}, rows: map[string]shardedRow{}}
	s.exec("drop table", "DROP TABLE IF EXISTS cm_go_sharded")
	s.exec("create table", "CREATE TABLE cm_go_sharded (k BIGINT NOT NULL, id INT NOT NULL,"+
		" v VARCHAR(32) NOT NULL, amount DECIMAL(14,2) NULL, d DATE NULL, PRIMARY KEY (k, id))"+
		" DEFAULT CHARSET=utf8mb4")

	// Single-row inserts, one prepared statement executed with many keys: both signs,
	// both groups, and the extremes of BIGINT.
	keys := []int64{0, 1, -1, 2, 3, 4, 5, -5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, -17, 31,
		32, 100, -100, 1 << 40, math.MaxInt64, math.MinInt64}
	ins, err := conn.PrepareContext(ctx, "INSERT INTO cm_go_sharded (k, id, v, amount, d) VALUES (?, ?, ?, ?, ?)")
	check("prepare insert", err)
	defer ins.Close()
	for i, k := range keys {
		r := shardedRow{k: k, id: 1, v: fmt.Sprintf("v%d", k), amount: fmt.Sprintf("%d.25", i-10),
			d: time.Date(2020+i%5, time.Month(1+i%12), 1+i%28, 0, 0, 0, 0, time.UTC)}
		if i%4 == 3 {
			r.amount, r.d = nil, nil
		}
		res, err := ins.ExecContext(ctx, r.k, r.id, r.v, r.amount, r.d)
		check(fmt.Sprintf("insert key %d", k), err)
		s.affected(fmt.Sprintf("insert key %d", k), res, 1)
		s.rows[r.key()] = r
	}

	// A multi-row insert spanning shards of both groups: the proxy splits it per shard and
	// writes the bound values as literals.
	multi := []shardedRow{
		{k: 1, id: 2, v: "m1 é", amount: "-0.75", d: time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{k: 8, id: 2, v: "m8 'q'", amount: nil, d: nil},
		{k: 9, id: 2, v: "m9 \\", amount: "123456789012.10", d: time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC)},
		{k: -100, id: 2, v: "m-100 😀", amount: "0.00", d: time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	var marks []string
	var args []any
	for _, r := range multi {
		marks = append(marks, "(?, ?, ?, ?, ?)")
		args = append(args, r.k, r.id, r.v, r.amount, r.d)
		s.rows[r.key()] = r
	}
	res := s.exec("multi-row insert", "INSERT INTO cm_go_sharded (k, id, v, amount, d) VALUES "+
		strings.Join(marks, ", "), args...)
	s.affected("multi-row insert spanning shards", res, int64(len(multi)))

	// Every key read back by its bound value.
	sel, err := conn.PrepareContext(ctx, "SELECT id, v, amount, d FROM cm_go_sharded WHERE k = ? ORDER BY id")
	check("prepare select", err)
	defer sel.Close()
	for _, k := range keys {
		s.checkKey(sel, k)
	}
	s.checkKey(sel, 424242) // no such key: no rows

	// IN over shards of both groups, and a scan of every shard.
	in := []int64{1, 8, -100, 777}
	expect("IN over several shards", s.expectedPairs(func(r shardedRow) bool {
		return r.k == 1 || r.k == 8 || r.k == -100
	}), s.pairs("IN", "SELECT k, id FROM cm_go_sharded WHERE k IN (?, ?, ?, ?)", in[0], in[1], in[2], in[3]))
	expect("scan of every shard", s.expectedPairs(func(r shardedRow) bool { return r.id >= 2 }),
		s.pairs("scan", "SELECT k, id FROM cm_go_sharded WHERE id >= ?", 2))

	// Updates and deletes by key: affected rows are changed rows (clientFoundRows=false).
	res = s.exec("update by key", "UPDATE cm_go_sharded SET v = ? WHERE k = ? AND id = ?", "changed", 5, 1)
	s.affected("update by key", res, 1)
	res = s.exec("update by key again", "UPDATE cm_go_sharded SET v = ? WHERE k = ? AND id = ?", "changed", 5, 1)
	s.affected("update by key with the same value", res, 0)
	r := s.rows["5:1"]
	r.v = "changed"
	s.rows["5:1"] = r
	res = s.exec("update IN", "UPDATE cm_go_sharded SET v = CONCAT(v, '+') WHERE k IN (?, ?)", 1, 8)
	s.affected("update of two keys on two groups", res, 4)
	for key, r := range s.rows {
		if r.k == 1 || r.k == 8 {
			r.v += "+"
			s.rows[key] = r
		}
	}
	res = s.exec("delete by key", "DELETE FROM cm_go_sharded WHERE k = ?", -5)
	s.affected("delete by key", res, 1)
	delete(s.rows, "-5:1")
	res = s.exec("delete IN", "DELETE FROM cm_go_sharded WHERE k IN (?, ?) AND id = ?", 9, 17, 1)
	s.affected("delete of two keys", res, 2)
	delete(s.rows, "9:1")
	delete(s.rows, "17:1")
	for _, k := range []int64{1, 5, -5, 8, 9, 17} {
		s.checkKey(sel, k)
	}

	// Transactions touching a shard of each group (3 on g0, 12 on g1 with 16 shards on two
	// groups): a rolled-back one leaves nothing, a committed one everything.
	for _, commit := range []bool{false, true} {
		tx, err := conn.BeginTx(ctx, nil)
		check("begin", err)
		for _, k := range []int64{3, 12} {
			res, err := tx.ExecContext(ctx, "INSERT INTO cm_go_sharded (k, id, v) VALUES (?, ?, ?)", k, 10, "tx")
			check("insert in transaction", err)
			s.affected("insert in transaction", res, 1)
		}
		var n int64
		check("read in transaction", tx.QueryRowContext(ctx,
			"SELECT COUNT(*) FROM cm_go_sharded WHERE k = ? AND id = ?", 12, 10).Scan(&n))
		expect("transaction sees its own row", int64(1), n)
		if commit {
			check("commit", tx.Commit())
			for _, k := range []int64{3, 12} {
				row := shardedRow{k: k, id: 10, v: "tx"}
				s.rows[row.key()] = row
			}
		} else {
			check("rollback", tx.Rollback())
		}
		s.checkKey(sel, 3)
		s.checkKey(sel, 12)
	}

	// Refusals and backend errors, each followed by a working statement.
	_, err = conn.ExecContext(ctx, "UPDATE cm_go_sharded SET k = ? WHERE k = ?", 2, 3)
	// A shard-key UPDATE moves rows; here onto keys (2, id) that exist: 1062, as one server.
	s.mysqlError("update of the shard key onto existing rows", err, 1062)
	_, err = conn.ExecContext(ctx, "INSERT INTO cm_go_sharded (id, v) VALUES (?, ?)", 1, "no key")
	s.mysqlError("insert without the shard key", err, 1105)
	_, err = conn.ExecContext(ctx, "INSERT INTO cm_go_sharded (k, id, v) VALUES (?, ?, ?)", 16, 1, "dup")
	s.mysqlError("duplicate key on a shard", err, 1062)
	_, err = conn.ExecContext(ctx, "SELECT GROUP_CONCAT(v) FROM cm_go_sharded WHERE id > ?", 0)
	s.mysqlError("GROUP_CONCAT over every shard", err, 1235)

	// Merged across every shard (binary rows): ORDER BY … LIMIT, and an aggregate.
	var want []shardedRow
	for _, r := range s.rows {
		want = append(want, r)
	}
	sort.Slice(want, func(i, j int) bool {
		if want[i].k != want[j].k {
			return want[i].k > want[j].k
		}
		return want[i].id < want[j].id
	})
	if len(want) > 3 {
		want = want[:3]
	}
	top := s.queryRows("ORDER BY over every shard", []any{int64(0), int32(0)},
		"SELECT k, id FROM cm_go_sharded WHERE id > ? ORDER BY k DESC, id LIMIT 3", 0)
	expect("ORDER BY over every shard: rows", len(want), len(top))
	for i, r := range want {
		expect(fmt.Sprintf("ORDER BY over every shard: row %d", i), []any{r.k, r.id}, top[i])
	}
	count := s.queryRows("COUNT over every shard", []any{int64(0)},
		"SELECT COUNT(*) FROM cm_go_sharded WHERE id > ?", 0)
	expect("COUNT over every shard", [][]any{{int64(len(s.rows))}}, count)

	// A string key: spellings equal under utf8mb4_general_ci (case, accents, ß = s, trailing
	// spaces, every character beyond the BMP) are one key, on one shard.
	s.exec("drop string table", "DROP TABLE IF EXISTS cm_go_sharded_s")
	s.exec("create string table", "CREATE TABLE cm_go_sharded_s (name VARCHAR(64) NOT NULL,"+
		" id INT NOT NULL, n INT NULL, PRIMARY KEY (name, id))"+
		" DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci")
	names := []struct {
		name string
		id   int32
	}{
		{"Ärger", 1}, {"arger", 2}, {"ÁRGER", 3}, {"Zoë", 1}, {"zoe", 2}, {"Straße", 1},
		{"strase", 2}, {"日本", 1}, {"smile 😀", 1}, {"smile 🚀", 2}, {"Bob", 1},
	}
	insS, err := conn.PrepareContext(ctx, "INSERT INTO cm_go_sharded_s (name, id, n) VALUES (?, ?, ?)")
	check("prepare string insert", err)
	defer insS.Close()
	for i, n := range names {
		res, err := insS.ExecContext(ctx, n.name, n.id, i)
		check("insert "+n.name, err)
		s.affected("insert "+n.name, res, 1)
	}
	for _, q := range []struct {
		name string
		ids  []any
	}{
		{"ARGER", []any{int32(1), int32(2), int32(3)}},
		{"zoe  ", []any{int32(1), int32(2)}},
		{"STRASE", []any{int32(1), int32(2)}},
		{"日本", []any{int32(1)}},
		{"SMILE 🌍", []any{int32(1), int32(2)}},
		{"nobody", nil},
	} {
		rows := s.queryRows("read "+q.name, []any{int32(0)},
			"SELECT id FROM cm_go_sharded_s WHERE name = ? ORDER BY id", q.name)
		var got []any
		for _, r := range rows {
			got = append(got, r[0])
		}
		expect(fmt.Sprintf("ids of name %q", q.name), q.ids, got)
	}
	res = s.exec("update string key", "UPDATE cm_go_sharded_s SET n = n + 100 WHERE name = ?", "zoé")
	s.affected("update by a string key in another spelling", res, 2)

	var total, totalS int64
	check("count", conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM cm_go_sharded WHERE k = ?", 3).Scan(&total))
	expect("rows of key 3", int64(2), total)
	all := s.pairs("all rows", "SELECT k, id FROM cm_go_sharded")
	expect("every row, read from every shard", s.expectedPairs(func(shardedRow) bool { return true }), all)
	totalS = int64(len(s.queryRows("all string rows", []any{""}, "SELECT name FROM cm_go_sharded_s")))
	expect("rows of cm_go_sharded_s", int64(len(names)), totalS)
	return fmt.Sprintf("%d rows in cm_go_sharded, %d rows in cm_go_sharded_s", len(all), totalS)
}
