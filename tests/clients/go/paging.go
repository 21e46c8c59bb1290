// Mode "paging": the paging scenario of tests/clients/PAGING.md with go-sql-driver's default
// server-side prepared statements. One *sql.Stmt per form is prepared once on each connection
// (the proxy and a plain MariaDB, MYSHARD_REF_*) and executed page by page.
package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"

	"github.com/go-sql-driver/mysql"
)

const pagingTable = "cm_paging_go"

// pagingRow is one row of a page: id and v.
type pagingRow struct {
	id int64
	v  string
}

// pagingExpected is what the filter grp <> 1 keeps of ids -20..300, in id order.
func pagingExpected() []pagingRow {
	var out []pagingRow
	for id := int64(-20); id <= 300; id++ {
		if pagingGrp(id) != 1 {
			out = append(out, pagingRow{id, pagingV(id)})
		}
	}
	return out
}

func pagingGrp(id int64) int64 { return ((id % 3) + 3) % 3 }
func pagingV(id int64) string  { return fmt.Sprintf("row %d é", id) }

// pagingLoad creates the table and inserts every row with prepared multi-row INSERTs.
func pagingLoad(ctx context.Context, where string, conn *sql.Conn) {
	for _, q := range []string{"DROP TABLE IF EXISTS " + pagingTable,
		"CREATE TABLE " + pagingTable + " (id BIGINT NOT NULL PRIMARY KEY, grp INT NOT NULL," +
			" v VARCHAR(32) NOT NULL) DEFAULT CHARSET=utf8mb4"} {
		_, err := conn.ExecContext(ctx, q)
		check(where+": "+q, err)
	}
	// Multi-row INSERTs of up to 40 rows (the proxy splits each by shard).
	var args []any
	flush := func() {
		if len(args) == 0 {
			return
		}
		marks := strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", len(args)/3), ", ")
		_, err := conn.ExecContext(ctx, "INSERT INTO "+pagingTable+" (id, grp, v) VALUES "+marks, args...)
		check(fmt.Sprintf("%s: insert of %d rows", where, len(args)/3), err)
		args = nil
	}
	for id := int64(-20); id <= 300; id++ {
		args = append(args, id, pagingGrp(id), pagingV(id))
		if len(args) == 3*40 {
			flush()
		}
	}
	flush()
}

// pageOutcome is a page's rows, or the MySQL error code it got (0: none).
type pageOutcome struct {
	rows []pagingRow
	code uint16
}

func readPage(ctx context.Context, what string, stmt *sql.Stmt, args ...any) pageOutcome {
	rows, err := stmt.QueryContext(ctx, args...)
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) {
		return pageOutcome{code: myErr.Number}
	}
	check(what, err)
	defer rows.Close()
	var out pageOutcome
	for rows.Next() {
		var r pagingRow
		check(what+": scan", rows.Scan(&r.id, &r.v))
		out.rows = append(out.rows, r)
	}
	if errors.As(rows.Err(), &myErr) {
		return pageOutcome{code: myErr.Number}
	}
	check(what+": rows", rows.Err())
	return out
}

// pageThrough executes one prepared statement per connection page by page (args gives the
// bound values of the page at offset, after the row with id last) until a short page; each
// page must equal the plain MariaDB's page, and the pages together the expected rows.
// Returns the number of pages.
func pageThrough(ctx context.Context, form string, proxy, ref *sql.Conn, size int64,
	args func(offset, last int64) []any) int {
	query := "SELECT id, v FROM " + pagingTable + " WHERE grp <> ? " + form
	pstmt, err := proxy.PrepareContext(ctx, query)
	check("proxy: prepare "+form, err)
	defer pstmt.Close()
	rstmt, err := ref.PrepareContext(ctx, query)
	check("MariaDB: prepare "+form, err)
	defer rstmt.Close()
	var all []pagingRow
	pages := 0
	last := int64(math.MinInt64)
	for offset := int64(0); ; offset += size {
		what := fmt.Sprintf("%s, page at offset %d", form, offset)
		got := readPage(ctx, "proxy: "+what, pstmt, args(offset, last)...)
		want := readPage(ctx, "MariaDB: "+what, rstmt, args(offset, last)...)
		expect(what+": error code (0: none)", want.code, got.code)
		if want.code != 0 {
			fail("%s: plain MariaDB answered error %d", what, want.code)
		}
		expect(what+": rows", want.rows, got.rows)
		pages++
		all = append(all, got.rows...)
		if len(got.rows) > 0 {
			last = got.rows[len(got.rows)-1].id
		}
		if int64(len(got.rows)) < size || pages > 100 {
			break
		}
	}
	expect(form+": every page together", pagingExpected(), all)
	return pages
}

func runPagingMode(ctx context.Context, proxy *sql.Conn) string {
	ref := refConn(ctx)
	defer ref.Close()
	pagingLoad(ctx, "proxy", proxy)
	pagingLoad(ctx, "MariaDB", ref)
	offsetPages := pageThrough(ctx, "ORDER BY id LIMIT ? OFFSET ?", proxy, ref, 7,
		func(offset, _ int64) []any { return []any{1, int64(7), offset} })
	commaPages := pageThrough(ctx, "ORDER BY id LIMIT ?, ?", proxy, ref, 5,
		func(offset, _ int64) []any { return []any{1, offset, int64(5)} })
	keysetPages := pageThrough(ctx, "AND id > ? ORDER BY id LIMIT ?", proxy, ref, 9,
		func(_, last int64) []any { return []any{1, last, int64(9)} })

	// Other types for the amounts, compared with MariaDB: a double, NULL, a negative count
	// (2^64 - 1 in the binary protocol) and strings (checked against the inserted set below).
	query := "SELECT id, v FROM " + pagingTable + " WHERE grp <> ? ORDER BY id LIMIT ? OFFSET ?"
	stmts := map[*sql.Conn]*sql.Stmt{}
	for _, c := range []*sql.Conn{proxy, ref} {
		stmt, err := c.PrepareContext(ctx, query)
		check("prepare page of other types", err)
		defer stmt.Close()
		stmts[c] = stmt
	}
	others := [][]any{{2.5, int64(120)}, {nil, int64(120)}, {int64(-1), int64(200)}, {int64(3), 7.5}}
	for _, amounts := range others {
		what := fmt.Sprintf("LIMIT %v OFFSET %v", amounts[0], amounts[1])
		args := append([]any{1}, amounts...)
		want := readPage(ctx, "MariaDB: "+what, stmts[ref], args...)
		got := readPage(ctx, "proxy: "+what, stmts[proxy], args...)
		expect(what+": error code (0: none)", want.code, got.code)
		expect(what+": rows", want.rows, got.rows)
	}
	var outcomes []pageOutcome
	for _, c := range []*sql.Conn{proxy, ref} {
		outcomes = append(outcomes, readPage(ctx, "LIMIT '5' OFFSET '120'", stmts[c], 1, "5", "120"))
	}
	expect("LIMIT '5' OFFSET '120': error code (0: none)", outcomes[1].code, outcomes[0].code)
	expect("LIMIT '5' OFFSET '120': rows", outcomes[1].rows, outcomes[0].rows)
	wrong := fmt.Sprintf("error %d as MariaDB", outcomes[0].code)
	if outcomes[0].code == 0 {
		expect("LIMIT '5' OFFSET '120': rows against the inserted set", pagingExpected()[120:125], outcomes[0].rows)
		wrong = fmt.Sprintf("%d rows as MariaDB", len(outcomes[0].rows))
	}

	var n int64
	check("count", proxy.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+pagingTable).Scan(&n))
	return fmt.Sprintf("%d rows in %s; LIMIT ? OFFSET ?: %d pages; LIMIT ?, ?: %d pages;"+
		" id > ? LIMIT ?: %d pages; %d other amount types as MariaDB; LIMIT '5' OFFSET '120': %s",
		n, pagingTable, offsetPages, commaPages, keysetPages, len(others), wrong)
}

// refConn opens the plain MariaDB of MYSHARD_REF_* (same host as the proxy).
func refConn(ctx context.Context) *sql.Conn {
	cfg := mysql.NewConfig()
	cfg.Net = "tcp"
	for _, v := range []string{"MYSHARD_REF_PORT", "MYSHARD_REF_USER", "MYSHARD_REF_DB"} {
		if os.Getenv(v) == "" {
			fail("paging needs a plain MariaDB: set %s (and MYSHARD_REF_PASSWORD)", v)
		}
	}
	cfg.Addr = os.Getenv("MYSHARD_HOST") + ":" + os.Getenv("MYSHARD_REF_PORT")
	cfg.User = os.Getenv("MYSHARD_REF_USER")
	cfg.Passwd = os.Getenv("MYSHARD_REF_PASSWORD")
	cfg.DBName = os.Getenv("MYSHARD_REF_DB")
	cfg.Collation = "utf8mb4_general_ci"
	connector, err := mysql.NewConnector(cfg)
	check("MariaDB connector", err)
	conn, err := sql.OpenDB(connector).Conn(ctx)
	check("connect to MariaDB", err)
	return conn
}
