import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.BiFunction;

/**
 * Paging scenario of tests/clients/PAGING.md with MariaDB Connector/J and
 * useServerPrepStmts=true: one PreparedStatement per form (COM_STMT_PREPARE once), executed page
 * by page, on the proxy (MYSHARD_*) and on a plain MariaDB (MYSHARD_REF_*).
 */
public final class Paging {
  static final String TABLE = "cm_paging_java";

  static final class Mismatch extends RuntimeException {
    private static final long serialVersionUID = 1L;

    Mismatch(String message) {
      super(message);
    }
  }

  /** A page's rows ("id:v" each) and 0, or no rows and the MySQL error code. */
  record Outcome(List<String> rows, int code) {}

  static void expect(String what, Object want, Object got) {
    if (!Objects.equals(want, got)) {
      throw new Mismatch(what + ": expected " + want + ", got " + got);
    }
  }

  static long grp(long id) {
    return Math.floorMod(id, 3);
  }

  static String value(long id) {
    return "row " + id + " é";
  }

  static List<String> expected() {
    List<String> out = new ArrayList<>();
    for (long id = -20; id <= 300; id++) if (grp(id) != 1) out.add(id + ":" + value(id));
    return out;
  }

  static void load(Connection conn) throws SQLException {
    try (Statement st = conn.createStatement()) {
      st.execute("DROP TABLE IF EXISTS " + TABLE);
      st.execute("CREATE TABLE " + TABLE + " (id BIGINT NOT NULL PRIMARY KEY, grp INT NOT NULL,"
          + " v VARCHAR(32) NOT NULL) DEFAULT CHARSET=utf8mb4");
    }
    // Multi-row INSERTs of up to 40 rows (the proxy splits each by shard).
    for (long first = -20; first <= 300; first += 40) {
      long last = Math.min(first + 39, 300);
      String marks = String.join(", ", java.util.Collections.nCopies((int) (last - first + 1), "(?, ?, ?)"));
      try (PreparedStatement ps =
          conn.prepareStatement("INSERT INTO " + TABLE + " (id, grp, v) VALUES " + marks)) {
        int i = 1;
        for (long id = first; id <= last; id++) {
          ps.setLong(i++, id);
          ps.setLong(i++, grp(id));
          ps.setString(i++, value(id));
        }
        ps.executeUpdate();
      }
    }
  }

  static Outcome page(PreparedStatement ps, Object... args) throws SQLException {
    for (int i = 0; i < args.length; i++) {
      if (args[i] == null) {
        ps.setNull(i + 1, java.sql.Types.BIGINT);
      } else {
        ps.setObject(i + 1, args[i]);
      }
    }
    List<String> rows = new ArrayList<>();
    try (ResultSet rs = ps.executeQuery()) {
      while (rs.next()) rows.add(rs.getLong(1) + ":" + rs.getString(2));
    } catch (SQLException e) {
      if (e.getErrorCode() < 1000) throw e;
      return new Outcome(List.of(), e.getErrorCode());
    }
    return new Outcome(rows, 0);
  }

  /**
   * Executes one statement page by page on both connections until a short page; args gives the
   * bound values of the page at an offset, after the row with id last.
   */
  static int pageThrough(Connection proxy, Connection ref, String form, int size,
      BiFunction<Long, Long, Object[]> args) throws SQLException {
    String sql = "SELECT id, v FROM " + TABLE + " WHERE grp <> ? " + form;
    long last = Long.MIN_VALUE;
    List<String> all = new ArrayList<>();
    int pages = 0;
    try (PreparedStatement p = proxy.prepareStatement(sql);
        PreparedStatement r = ref.prepareStatement(sql)) {
      // Connector/J falls back to a client-side statement when the server refuses to prepare.
      expect(form + ": prepared on the server", true,
          p.getClass().getSimpleName().startsWith("ServerSide"));
      for (long offset = 0; ; offset += size) {
        String what = form + ", page at offset " + offset;
        Outcome got = page(p, args.apply(offset, last));
        Outcome want = page(r, args.apply(offset, last));
        expect(what + ": error code (0: none)", want.code(), got.code());
        if (want.code() != 0) throw new Mismatch(what + ": plain MariaDB answered error " + want.code());
        expect(what + ": rows", want.rows(), got.rows());
        pages++;
        all.addAll(got.rows());
        if (!got.rows().isEmpty()) {
          String end = got.rows().get(got.rows().size() - 1);
          last = Long.parseLong(end.substring(0, end.indexOf(':')));
        }
        if (got.rows().size() < size || pages > 100) break;
      }
    }
    expect(form + ": every page together", expected(), all);
    return pages;
  }

  static String run(Connection proxy, Connection ref) throws SQLException {
    load(proxy);
    load(ref);
    int offsetPages =
        pageThrough(proxy, ref, "ORDER BY id LIMIT ? OFFSET ?", 7, (o, l) -> new Object[] {1, 7, o});
    int commaPages =
        pageThrough(proxy, ref, "ORDER BY id LIMIT ?, ?", 5, (o, l) -> new Object[] {1, o, 5});
    int keysetPages = pageThrough(
        proxy, ref, "AND id > ? ORDER BY id LIMIT ?", 9, (o, l) -> new Object[] {1, l, 9});
    // Other types for the amounts, compared with MariaDB: a double, a BigDecimal, NULL, a
    // negative count; then strings (also checked against the inserted set).
    List<Object[]> others = List.of(new Object[] {2.5, 120},
        new Object[] {new java.math.BigDecimal("3.5"), 120}, new Object[] {null, 120},
        new Object[] {-1, 200}, new Object[] {3, 7.5});
    // A wrong type: the count and offset bound as strings, on a statement that was executed
    // with integers first (Connector/J sends the new parameter types only when they change).
    String sql = "SELECT id, v FROM " + TABLE + " WHERE grp <> ? ORDER BY id LIMIT ? OFFSET ?";
    Outcome got;
    Outcome want;
    try (PreparedStatement p = proxy.prepareStatement(sql);
        PreparedStatement r = ref.prepareStatement(sql)) {
      expect("LIMIT 5 OFFSET 120 (integers)", page(r, 1, 5, 120), page(p, 1, 5, 120));
      for (Object[] amounts : others) {
        expect("LIMIT " + amounts[0] + " OFFSET " + amounts[1],
            page(r, 1, amounts[0], amounts[1]), page(p, 1, amounts[0], amounts[1]));
      }
      got = page(p, 1, "5", "120");
      want = page(r, 1, "5", "120");
    }
    expect("LIMIT '5' OFFSET '120': error code (0: none)", want.code(), got.code());
    expect("LIMIT '5' OFFSET '120': rows", want.rows(), got.rows());
    String wrong = "error " + got.code() + " as MariaDB";
    if (got.code() == 0) {
      expect("LIMIT '5' OFFSET '120': rows against the inserted set", expected().subList(120, 125),
          got.rows());
      wrong = got.rows().size() + " rows as MariaDB";
    }
    // setMaxRows: Connector/J sets the session's SQL_SELECT_LIMIT instead of writing a
    // LIMIT; over several shards the proxy must still give at most that many rows.
    int maxRowsChecks = 0;
    String ordered = "SELECT id, v FROM " + TABLE + " WHERE grp <> ? ORDER BY id DESC";
    try (PreparedStatement p = proxy.prepareStatement(ordered);
        PreparedStatement r = ref.prepareStatement(ordered)) {
      p.setMaxRows(10);
      r.setMaxRows(10);
      Outcome capped = page(r, 1);
      expect("setMaxRows(10), prepared: rows", capped, page(p, 1));
      expect("setMaxRows(10), prepared: row count", 10, capped.rows().size());
      maxRowsChecks++;
    }
    try (Statement p = proxy.createStatement();
        Statement r = ref.createStatement()) {
      p.setMaxRows(7);
      r.setMaxRows(7);
      for (String q : List.of("SELECT id FROM " + TABLE + " ORDER BY id",
          "SELECT COUNT(*) FROM " + TABLE, "SELECT id FROM " + TABLE + " ORDER BY id LIMIT 9")) {
        List<Long> fromProxy = new ArrayList<>();
        List<Long> fromMariaDb = new ArrayList<>();
        try (ResultSet rs = p.executeQuery(q)) {
          while (rs.next()) fromProxy.add(rs.getLong(1));
        }
        try (ResultSet rs = r.executeQuery(q)) {
          while (rs.next()) fromMariaDb.add(rs.getLong(1));
        }
        expect("setMaxRows(7), " + q, fromMariaDb, fromProxy);
        maxRowsChecks++;
      }
    }
    // Unlimited again, on the same connection: every row.
    try (PreparedStatement p = proxy.prepareStatement(ordered)) {
      expect("after setMaxRows: rows of a new statement", expected().size(), page(p, 1).rows().size());
    }
    long n;
    try (Statement st = proxy.createStatement();
        ResultSet rs = st.executeQuery("SELECT COUNT(*) FROM " + TABLE)) {
      rs.next();
      n = rs.getLong(1);
    }
    return n + " rows in " + TABLE + "; LIMIT ? OFFSET ?: " + offsetPages + " pages; LIMIT ?, ?: "
        + commaPages + " pages; id > ? LIMIT ?: " + keysetPages + " pages; " + others.size()
        + " other amount types as MariaDB; LIMIT '5' OFFSET '120': " + wrong + "; setMaxRows: "
        + maxRowsChecks + " statements as MariaDB";
  }

  static String env(String name) {
    String value = System.getenv(name);
    if (value == null || value.isEmpty()) throw new Mismatch("missing environment variable " + name);
    return value;
  }

  static Connection connect(String port, String user, String db, String password)
      throws SQLException {
    String url = String.format("jdbc:mariadb://%s:%s/%s?useServerPrepStmts=true",
        env("MYSHARD_HOST"), port, db);
    return DriverManager.getConnection(url, user, password == null ? "" : password);
  }

  public static void main(String[] args) {
    String detail = null;
    try (Connection proxy = connect(env("MYSHARD_PORT"), env("MYSHARD_USER"), env("MYSHARD_DB"),
            System.getenv("MYSHARD_PASSWORD"));
        Connection ref = connect(env("MYSHARD_REF_PORT"), env("MYSHARD_REF_USER"),
            env("MYSHARD_REF_DB"), System.getenv("MYSHARD_REF_PASSWORD"))) {
      detail = run(proxy, ref);
    } catch (Mismatch e) {
      fail(e.getMessage());
    } catch (Exception e) {
      e.printStackTrace();
      fail("unexpected exception (above): " + e);
    }
    System.out.println("OK connector-j server-prep (" + detail + ")");
  }

  static void fail(String message) {
    System.err.println("FAIL connector-j paging: " + message);
    System.exit(1);
  }
}
