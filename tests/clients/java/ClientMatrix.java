import java.io.ByteArrayInputStream;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Random;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

/**
 * Client matrix: MariaDB Connector/J (2.7, Debian's libmariadb-java).
 *
 * <p>Modes (first argument, default "server-prep"):
 *
 * <ul>
 *   <li>server-prep: useServerPrepStmts=true, PreparedStatement runs as COM_STMT_*; the 5 MiB
 *       value is bound as a stream, so it goes out as COM_STMT_SEND_LONG_DATA.
 *   <li>client-prep: useServerPrepStmts=false, parameters are escaped into COM_QUERY text.
 * </ul>
 *
 * <p>Connector/J sets CLIENT_FOUND_ROWS (useAffectedRows=false by default), so UPDATE reports
 * matched rows, not changed rows.
 */
public final class ClientMatrix {

  /** Column name, SQL type, value in row 1 ("low") and row 2 ("high"); row 3 is all NULL. */
  record Column(String name, String sqlType, Object low, Object high) {}

  static final List<Column> COLUMNS =
      List.of(
          new Column("c_tinyint", "TINYINT", (byte) -128, (byte) 127),
          new Column("c_smallint", "SMALLINT", (short) -32768, (short) 32767),
          new Column("c_int", "INT", Integer.MIN_VALUE, Integer.MAX_VALUE),
          new Column("c_bigint", "BIGINT", Long.MIN_VALUE, Long.MAX_VALUE),
          new Column(
              "c_ubigint", "BIGINT UNSIGNED", BigInteger.ZERO, new BigInteger("18446744073709551615")),
          new Column(
              "c_decimal",
              "DECIMAL(20,6)",
              new BigDecimal("-12345678901234.123456"),
              new BigDecimal("99999999999999.999999")),
          new Column("c_float", "FLOAT", -0.15625f, 1e10f),
          new Column("c_double", "DOUBLE", -Double.MAX_VALUE, Double.MIN_NORMAL),
          new Column("c_date", "DATE", LocalDate.parse("1000-01-01"), LocalDate.parse("9999-12-31")),
          new Column(
              "c_datetime",
              "DATETIME(6)",
              LocalDateTime.parse("1000-01-01T00:00:00.000001"),
              LocalDateTime.parse("9999-12-31T23:59:59.999999")),
          // java.sql.Time cannot hold negative or > 24 h values: bound and read as text.
          new Column("c_time", "TIME", "-838:59:59", "838:59:59"),
          new Column(
              "c_timestamp",
              "TIMESTAMP NULL",
              LocalDateTime.parse("2000-01-01T00:00:00"),
              LocalDateTime.parse("2037-12-31T23:59:59")),
          new Column("c_varchar", "VARCHAR(64)", "", "Grüße, café, ñandú 😀🚀 日本語"),
          new Column("c_blob", "BLOB", new byte[] {0}, highBlob()),
          new Column("c_json", "JSON", "[]", "{\"k\": [1, 2.5, \"é😀\"], \"n\": null}"));

  static final Map<Integer, String> TAGS = Map.of(1, "low", 2, "high", 3, "nulls");
  static final int BIG_SIZE = 5 << 20;

  static byte[] highBlob() {
    byte[] head = "\0\u0001\u00ff\0 bin\0".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);
    byte[] out = Arrays.copyOf(head, head.length + 256);
    for (int i = 0; i < 256; i++) out[head.length + i] = (byte) i;
    return out;
  }

  static final class Mismatch extends RuntimeException {
    private static final long serialVersionUID = 1L;

    Mismatch(String message) {
      super(message);
    }
  }

  static String show(Object v) {
    if (v instanceof byte[] b) {
      return "byte[" + b.length + "] " + hex(Arrays.copyOf(b, Math.min(b.length, 64)));
    }
    return v == null ? "NULL" : v.getClass().getSimpleName() + "(" + v + ")";
  }

  static String hex(byte[] b) {
    return IntStream.range(0, b.length)
        .mapToObj(i -> String.format("%02x", b[i]))
        .collect(Collectors.joining());
  }

  static void expect(String what, Object want, Object got) {
    boolean equal =
        want instanceof byte[] w && got instanceof byte[] g
            ? Arrays.equals(w, g)
            : Objects.equals(want, got);
    if (!equal) throw new Mismatch(what + ": expected " + show(want) + ", got " + show(got));
  }

  static List<Object> expectedRow(int id) {
    List<Object> row = new ArrayList<>(List.of(id, TAGS.get(id)));
    for (Column c : COLUMNS) row.add(id == 1 ? c.low() : id == 2 ? c.high() : null);
    return row;
  }

  static List<String> names() {
    List<String> names = new ArrayList<>(List.of("id", "tag"));
    COLUMNS.forEach(c -> names.add(c.name()));
    return names;
  }

  private final Connection conn;
  private final String table;
  private final boolean serverPrep;

  ClientMatrix(Connection conn, String table, boolean serverPrep) {
    this.conn = conn;
    this.table = table;
    this.serverPrep = serverPrep;
  }

  /**
   * What a parameter read returns: Connector/J renders a TIME from a binary (COM_STMT_EXECUTE)
   * row with six fractional digits, even for TIME(0), while text rows give the server's text.
   */
  List<Object> expectedParamRow(int id) {
    List<Object> row = expectedRow(id);
    int time = names().indexOf("c_time");
    if (serverPrep && row.get(time) != null) row.set(time, row.get(time) + ".000000");
    return row;
  }

  /** Reads every row, each column as the Java type of the corresponding template value. */
  static List<List<Object>> read(ResultSet rs, List<Object> template) throws SQLException {
    List<List<Object>> rows = new ArrayList<>();
    while (rs.next()) {
      List<Object> row = new ArrayList<>();
      for (int i = 0; i < template.size(); i++) {
        row.add(rs.getObject(i + 1, template.get(i).getClass()));
      }
      rows.add(row);
    }
    rs.close();
    return rows;
  }

  List<List<Object>> plain(String sql, List<Object> template) throws SQLException {
    try (Statement st = conn.createStatement()) {
      return read(st.executeQuery(sql), template);
    }
  }

  PreparedStatement prepare(String sql, Object... args) throws SQLException {
    PreparedStatement ps = conn.prepareStatement(sql, Statement.RETURN_GENERATED_KEYS);
    for (int i = 0; i < args.length; i++) ps.setObject(i + 1, args[i]);
    return ps;
  }

  List<List<Object>> param(String sql, List<Object> template, Object... args) throws SQLException {
    try (PreparedStatement ps = prepare(sql, args)) {
      return read(ps.executeQuery(), template);
    }
  }

  int update(String sql, Object... args) throws SQLException {
    try (PreparedStatement ps = prepare(sql, args)) {
      return ps.executeUpdate();
    }
  }

  void run() throws SQLException {
    createTable();
    types();
    affectedRowsAndInsertId();
    errors();
    transactions();
    bigValue();
  }

  void createTable() throws SQLException {
    String defs =
        COLUMNS.stream().map(c -> c.name() + " " + c.sqlType()).collect(Collectors.joining(", "));
    try (Statement st = conn.createStatement()) {
      st.execute("DROP TABLE IF EXISTS " + table);
      st.execute(
          "CREATE TABLE " + table + " (id INT AUTO_INCREMENT PRIMARY KEY,"
              + " tag VARCHAR(32) NOT NULL UNIQUE, " + defs + ", c_long LONGBLOB)"
              + " DEFAULT CHARSET=utf8mb4 AUTO_INCREMENT=100");
    }
  }

  void compareRow(String what, List<Object> want, List<Object> got) {
    List<String> names = names();
    for (int i = 0; i < want.size(); i++) {
      expect(what + ": " + names.get(i), want.get(i), got.get(i));
    }
  }

  void types() throws SQLException {
    String cols = String.join(", ", names());
    String marks = String.join(", ", java.util.Collections.nCopies(names().size(), "?"));
    for (int id : List.of(1, 2, 3)) {
      update("INSERT INTO " + table + " (" + cols + ") VALUES (" + marks + ")",
          expectedRow(id).toArray());
    }
    List<Object> template = expectedRow(1);
    String select = "SELECT " + cols + " FROM " + table;
    List<List<Object>> rows = plain(select + " WHERE id <= 3 ORDER BY id", template);
    expect("plain read: row count", 3, rows.size());
    for (int id = 1; id <= 3; id++) {
      compareRow("plain read of row " + id, expectedRow(id), rows.get(id - 1));
      List<List<Object>> one = param(select + " WHERE id = ?", template, id);
      expect("parameter read of row " + id + ": row count", 1, one.size());
      compareRow("parameter read of row " + id, expectedParamRow(id), one.get(0));
    }
    // Parameters compared server-side: row 2 must be found by its extreme values.
    List<Column> keys = COLUMNS.subList(3, 8); // BIGINT .. DOUBLE
    String where = keys.stream().map(c -> c.name() + " = ?").collect(Collectors.joining(" AND "));
    rows = param("SELECT id FROM " + table + " WHERE " + where, List.of(0),
        keys.stream().map(Column::high).toArray());
    expect("lookup of row 2 by bound high values", List.of(List.of(2)), rows);
  }

  void affectedRowsAndInsertId() throws SQLException {
    // Row 1 changes (-128 -> 127), row 2 already holds 127: matched 2, changed 1.
    int count = update("UPDATE " + table + " SET c_tinyint = ? WHERE id IN (?, ?)", 127, 1, 2);
    expect("UPDATE affected rows (CLIENT_FOUND_ROWS: matched rows)", 2, count);
    long insertId;
    try (PreparedStatement ps = prepare("INSERT INTO " + table + " (tag) VALUES (?)", "ai")) {
      ps.executeUpdate();
      ResultSet keys = ps.getGeneratedKeys();
      expect("generated key present", true, keys.next());
      insertId = keys.getLong(1);
    }
    List<List<Object>> rows = plain("SELECT id FROM " + table + " WHERE tag = 'ai'", List.of(0L));
    expect("last insert id", rows.get(0).get(0), insertId);
    expect("AUTO_INCREMENT value", 100L, insertId);
  }

  void errors() throws SQLException {
    record Case(String what, String sql, Object arg, int code) {}
    for (Case c :
        List.of(
            new Case("syntax error", "SELEC ?", 1, 1064),
            new Case("duplicate key", "INSERT INTO " + table + " (tag) VALUES (?)", "ai", 1062))) {
      try {
        update(c.sql(), c.arg());
        throw new Mismatch(c.what() + ": expected error " + c.code() + ", the statement succeeded");
      } catch (SQLException e) {
        expect(c.what() + ": error code", c.code(), e.getErrorCode());
      }
      expect("SELECT 1 after " + c.what(), List.of(List.of(1)), plain("SELECT 1", List.of(0)));
    }
  }

  void transactions() throws SQLException {
    conn.setAutoCommit(false);
    update("INSERT INTO " + table + " (tag) VALUES (?)", "rolled-back");
    conn.rollback();
    update("INSERT INTO " + table + " (tag) VALUES (?)", "committed");
    conn.commit();
    conn.setAutoCommit(true);
    List<List<Object>> rows =
        plain("SELECT tag FROM " + table + " WHERE tag IN ('rolled-back', 'committed')",
            List.of(""));
    expect("rows left by a rolled-back and a committed transaction",
        List.of(List.of("committed")), rows);
  }

  void bigValue() throws SQLException {
    byte[] big = new byte[BIG_SIZE];
    new Random(5).nextBytes(big);
    try (PreparedStatement ps =
        conn.prepareStatement("INSERT INTO " + table + " (tag, c_long) VALUES (?, ?)")) {
      ps.setString(1, "big");
      ps.setBinaryStream(2, new ByteArrayInputStream(big), big.length);
      ps.executeUpdate();
    }
    String select = "SELECT c_long FROM " + table + " WHERE tag = ";
    List<Object> template = List.of(new byte[0]);
    Map<String, List<List<Object>>> reads =
        Map.of("plain", plain(select + "'big'", template), "parameter",
            param(select + "?", template, "big"));
    for (var read : reads.entrySet()) {
      byte[] got = (byte[]) read.getValue().get(0).get(0);
      if (!Arrays.equals(big, got)) {
        throw new Mismatch("5 MiB value, " + read.getKey() + " read: expected " + big.length
            + " bytes, got " + (got == null ? "NULL" : got.length + " bytes, first difference at offset "
            + Arrays.mismatch(big, got)));
      }
    }
  }

  public static void main(String[] args) {
    String mode = args.length > 0 ? args[0] : "server-prep";
    try {
      if (!mode.equals("server-prep") && !mode.equals("client-prep")) {
        throw new Mismatch("unknown mode (server-prep|client-prep)");
      }
      String url =
          String.format(
              "jdbc:mariadb://%s:%s/%s?useServerPrepStmts=%s",
              env("MYSHARD_HOST"), env("MYSHARD_PORT"), env("MYSHARD_DB"),
              mode.equals("server-prep"));
      String password = System.getenv().getOrDefault("MYSHARD_PASSWORD", "");
      try (Connection conn = DriverManager.getConnection(url, env("MYSHARD_USER"), password)) {
        new ClientMatrix(conn, "cm_java_" + mode.replace('-', '_'), mode.equals("server-prep"))
            .run();
      }
    } catch (Mismatch e) {
      fail(mode, e.getMessage());
    } catch (Exception e) {
      e.printStackTrace();
      fail(mode, "unexpected exception (above): " + e);
    }
    System.out.println("OK connector-j " + mode);
  }

  static String env(String name) {
    String value = System.getenv(name);
    if (value == null) throw new Mismatch("missing environment variable " + name);
    return value;
  }

  static void fail(String mode, String message) {
    System.err.println("FAIL connector-j " + mode + ": " + message);
    System.exit(1);
  }
}
