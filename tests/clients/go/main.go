// Client matrix: go-sql-driver/mysql through database/sql.
//
// Modes (first argument, default "prepared"):
//
//	prepared     the driver's default: every statement with arguments is prepared, executed
//	             and closed (COM_STMT_*); the 5 MiB argument goes out as COM_STMT_SEND_LONG_DATA
//	interpolate  interpolateParams=true: arguments are escaped into COM_QUERY text
//	sharded      prepared statements against a sharded schema (sharded.go)
//	paging       prepared paging through a sharded schema, against a plain MariaDB (paging.go)
//
// The driver does not set CLIENT_FOUND_ROWS (clientFoundRows=false), so UPDATE reports
// changed rows. Everything runs on one *sql.Conn so errors are seen on the same connection.
package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// column: name, SQL type, value in row 1 ("low") and row 2 ("high"); row 3 is all NULL.
// Values are both the bound arguments and the expected results, scanned into the same Go type.
type column struct {
	name, sqlType string
	low, high     any
}

func ts(s string) time.Time {
	layout := "2006-01-02 15:04:05.999999"
	t, err := time.ParseInLocation(layout[:len(s)], s, time.UTC)
	if err != nil {
		panic(err)
	}
	return t
}

var columns = []column{
	{"c_tinyint", "TINYINT", int8(math.MinInt8), int8(math.MaxInt8)},
	{"c_smallint", "SMALLINT", int16(math.MinInt16), int16(math.MaxInt16)},
	{"c_int", "INT", int32(math.MinInt32), int32(math.MaxInt32)},
	{"c_bigint", "BIGINT", int64(math.MinInt64), int64(math.MaxInt64)},
	{"c_ubigint", "BIGINT UNSIGNED", uint64(0), uint64(math.MaxUint64)},
	{"c_decimal", "DECIMAL(20,6)", "-12345678901234.123456", "99999999999999.999999"},
	{"c_float", "FLOAT", float32(-0.15625), float32(1e10)},
	{"c_double", "DOUBLE", -math.MaxFloat64, 2.2250738585072014e-308},
	{"c_date", "DATE", ts("1000-01-01"), ts("9999-12-31")},
	{"c_datetime", "DATETIME(6)", ts("1000-01-01 00:00:00.000001"), ts("9999-12-31 23:59:59.999999")},
	{"c_time", "TIME", "-838:59:59", "838:59:59"},
	{"c_timestamp", "TIMESTAMP NULL", ts("2000-01-01 00:00:00"), ts("2037-12-31 23:59:59")},
	{"c_varchar", "VARCHAR(64)", "", "Grüße, café, ñandú 😀🚀 日本語"},
	{"c_blob", "BLOB", []byte{0}, append([]byte("\x00\x01\xff\x00 bin\x00"), allBytes()...)},
	{"c_json", "JSON", "[]", `{"k": [1, 2.5, "é😀"], "n": null}`},
}

var tags = map[int]string{1: "low", 2: "high", 3: "nulls"}

const bigSize = 5 << 20

func allBytes() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// expectedRow gives id, tag and every column of row id (nil for NULL).
func expectedRow(id int) []any {
	row := []any{int32(id), tags[id]}
	for _, c := range columns {
		switch id {
		case 1:
			row = append(row, c.low)
		case 2:
			row = append(row, c.high)
		default:
			row = append(row, nil)
		}
	}
	return row
}

func columnNames() []string {
	names := []string{"id", "tag"}
	for _, c := range columns {
		names = append(names, c.name)
	}
	return names
}

type mismatch struct{ msg string }

func fail(format string, args ...any) { panic(mismatch{fmt.Sprintf(format, args...)}) }

func show(v any) string {
	if b, ok := v.([]byte); ok && len(b) > 64 {
		return fmt.Sprintf("[]byte(%d bytes) % x...", len(b), b[:64])
	}
	if t, ok := v.(time.Time); ok {
		return t.Format("2006-01-02 15:04:05.999999 MST")
	}
	return fmt.Sprintf("%T(%#v)", v, v)
}

func expect(what string, want, got any) {
	equal := reflect.DeepEqual(want, got)
	if w, ok := want.(time.Time); ok {
		g, ok := got.(time.Time)
		equal = ok && w.Equal(g)
	}
	if !equal {
		fail("%s: expected %s, got %s", what, show(want), show(got))
	}
}

func check(what string, err error) {
	if err != nil {
		fail("%s: %v", what, err)
	}
}

type matrix struct {
	ctx   context.Context
	conn  *sql.Conn
	table string
}

// queryRows runs a query and scans every row into pointers of the types of template
// (so NULL comes back as nil).
func (m *matrix) queryRows(what string, template []any, query string, args ...any) [][]any {
	rows, err := m.conn.QueryContext(m.ctx, query, args...)
	check(what, err)
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		dest := make([]any, len(template))
		for i, t := range template {
			dest[i] = reflect.New(reflect.PointerTo(reflect.TypeOf(t))).Interface()
		}
		check(what+": scan", rows.Scan(dest...))
		row := make([]any, len(dest))
		for i, d := range dest {
			if p := reflect.ValueOf(d).Elem(); !p.IsNil() {
				row[i] = p.Elem().Interface()
			}
		}
		out = append(out, row)
	}
	check(what+": rows", rows.Err())
	return out
}

func (m *matrix) exec(what, query string, args ...any) sql.Result {
	res, err := m.conn.ExecContext(m.ctx, query, args...)
	check(what, err)
	return res
}

func (m *matrix) createTable() {
	var defs []string
	for _, c := range columns {
		defs = append(defs, c.name+" "+c.sqlType)
	}
	m.exec("drop table", "DROP TABLE IF EXISTS "+m.table)
	m.exec("create table", fmt.Sprintf("CREATE TABLE %s (id INT AUTO_INCREMENT PRIMARY KEY,"+
		" tag VARCHAR(32) NOT NULL UNIQUE, %s, c_long LONGBLOB)"+
		" DEFAULT CHARSET=utf8mb4 AUTO_INCREMENT=100", m.table, strings.Join(defs, ", ")))
}

func (m *matrix) compareRow(what string, want, got []any) {
	names := columnNames()
	for i := range want {
		expect(fmt.Sprintf("%s: %s", what, names[i]), want[i], got[i])
	}
}

func (m *matrix) types() {
	names := columnNames()
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(names)), ", ")
	insert := fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)", m.table, strings.Join(names, ", "), marks)
	for id := range tags {
		m.exec(fmt.Sprintf("insert row %d", id), insert, expectedRow(id)...)
	}
	template := expectedRow(1)
	sel := fmt.Sprintf("SELECT %s FROM %s", strings.Join(names, ", "), m.table)
	plain := m.queryRows("plain read", template, sel+" WHERE id <= 3 ORDER BY id")
	expect("plain read: row count", 3, len(plain))
	for i, row := range plain {
		m.compareRow(fmt.Sprintf("plain read of row %d", i+1), expectedRow(i+1), row)
	}
	for id := 1; id <= 3; id++ {
		rows := m.queryRows("parameter read", template, sel+" WHERE id = ?", id)
		expect(fmt.Sprintf("parameter read of row %d: row count", id), 1, len(rows))
		m.compareRow(fmt.Sprintf("parameter read of row %d", id), expectedRow(id), rows[0])
	}
	// Arguments compared server-side: row 2 must be found by its extreme values.
	var keys []string
	var args []any
	for _, c := range columns[3:8] { // BIGINT .. DOUBLE
		keys = append(keys, c.name+" = ?")
		args = append(args, c.high)
	}
	rows := m.queryRows("lookup", []any{int32(0)}, fmt.Sprintf("SELECT id FROM %s WHERE %s",
		m.table, strings.Join(keys, " AND ")), args...)
	expect("lookup of row 2 by bound high values", [][]any{{int32(2)}}, rows)
}

func (m *matrix) affectedRowsAndInsertID() {
	// Row 1 changes (-128 -> 127), row 2 already holds 127: matched 2, changed 1.
	res := m.exec("update", "UPDATE "+m.table+" SET c_tinyint = ? WHERE id IN (?, ?)", 127, 1, 2)
	n, err := res.RowsAffected()
	check("rows affected", err)
	expect("UPDATE affected rows", int64(1), n)
	res = m.exec("insert ai", "INSERT INTO "+m.table+" (tag) VALUES (?)", "ai")
	id, err := res.LastInsertId()
	check("last insert id", err)
	rows := m.queryRows("read ai", []any{int64(0)}, "SELECT id FROM "+m.table+" WHERE tag = 'ai'")
	expect("last insert id", rows[0][0], id)
	expect("AUTO_INCREMENT value", int64(100), id)
}

func (m *matrix) errors() {
	for _, e := range []struct {
		what, query string
		args        []any
		code        uint16
	}{
		{"syntax error", "SELEC ?", []any{1}, 1064},
		{"duplicate key", "INSERT INTO " + m.table + " (tag) VALUES (?)", []any{"ai"}, 1062},
	} {
		_, err := m.conn.ExecContext(m.ctx, e.query, e.args...)
		var myErr *mysql.MySQLError
		if !errors.As(err, &myErr) {
			fail("%s: expected MySQL error %d, got %v", e.what, e.code, err)
		}
		expect(e.what+": error code", e.code, myErr.Number)
		one := m.queryRows("SELECT 1 after "+e.what, []any{int64(0)}, "SELECT 1")
		expect("SELECT 1 after "+e.what, [][]any{{int64(1)}}, one)
	}
}

func (m *matrix) transactions() {
	for _, tag := range []string{"rolled-back", "committed"} {
		tx, err := m.conn.BeginTx(m.ctx, nil)
		check("begin", err)
		_, err = tx.ExecContext(m.ctx, "INSERT INTO "+m.table+" (tag) VALUES (?)", tag)
		check("insert in transaction", err)
		if tag == "committed" {
			check("commit", tx.Commit())
		} else {
			check("rollback", tx.Rollback())
		}
	}
	rows := m.queryRows("transactions", []any{""},
		"SELECT tag FROM "+m.table+" WHERE tag IN ('rolled-back', 'committed')")
	expect("rows left by a rolled-back and a committed transaction", [][]any{{"committed"}}, rows)
}

func (m *matrix) bigValue() {
	big := make([]byte, bigSize)
	rand.New(rand.NewSource(5)).Read(big)
	m.exec("insert 5 MiB value", "INSERT INTO "+m.table+" (tag, c_long) VALUES (?, ?)", "big", big)
	sel := "SELECT c_long FROM " + m.table + " WHERE tag = "
	for how, rows := range map[string][][]any{
		"plain":     m.queryRows("plain read of 5 MiB value", []any{[]byte{}}, sel+"'big'"),
		"parameter": m.queryRows("parameter read of 5 MiB value", []any{[]byte{}}, sel+"?", "big"),
	} {
		got, _ := rows[0][0].([]byte)
		if !bytes.Equal(big, got) {
			first := -1
			for i := 0; i < len(big) && i < len(got); i++ {
				if big[i] != got[i] {
					first = i
					break
				}
			}
			fail("5 MiB value, %s read: expected %d bytes, got %d bytes, first difference at offset %d",
				how, len(big), len(got), first)
		}
	}
}

func run(mode string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			mm, ok := r.(mismatch)
			if !ok {
				panic(r)
			}
			err = errors.New(mm.msg)
		}
	}()
	cfg := mysql.NewConfig()
	cfg.Net = "tcp"
	cfg.Addr = os.Getenv("MYSHARD_HOST") + ":" + os.Getenv("MYSHARD_PORT")
	cfg.User = os.Getenv("MYSHARD_USER")
	cfg.Passwd = os.Getenv("MYSHARD_PASSWORD")
	cfg.DBName = os.Getenv("MYSHARD_DB")
	cfg.Collation = "utf8mb4_general_ci"
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	switch mode {
	case "prepared", "sharded", "paging":
	case "interpolate":
		cfg.InterpolateParams = true
		// Learn the server's max_allowed_packet: with the 4 MiB default the driver would
		// quietly fall back to a prepared statement for the 5 MiB argument.
		cfg.MaxAllowedPacket = 0
	default:
		return fmt.Errorf("unknown mode %q (prepared|interpolate|sharded|paging)", mode)
	}
	connector, err := mysql.NewConnector(cfg)
	check("connector", err)
	db := sql.OpenDB(connector)
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	check("connect", err)
	defer conn.Close()
	if mode == "sharded" {
		okDetail = " (" + runShardedMode(ctx, conn) + ")"
		return nil
	}
	if mode == "paging" {
		okDetail = " (" + runPagingMode(ctx, conn) + ")"
		return nil
	}
	m := &matrix{ctx: ctx, conn: conn, table: "cm_go_" + mode}
	m.createTable()
	m.types()
	m.affectedRowsAndInsertID()
	m.errors()
	m.transactions()
	m.bigValue()
	return nil
}

// okDetail is appended to the closing OK line.
var okDetail string

func main() {
	mode := "prepared"
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	for _, v := range []string{"MYSHARD_HOST", "MYSHARD_PORT", "MYSHARD_USER", "MYSHARD_DB"} {
		if _, ok := os.LookupEnv(v); !ok {
			fmt.Fprintf(os.Stderr, "FAIL go %s: missing environment variable %s\n", mode, v)
			os.Exit(1)
		}
	}
	if err := run(mode); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL go %s: %v\n", mode, err)
		os.Exit(1)
	}
	fmt.Printf("OK go %s%s\n", mode, okDetail)
}
