// The driver scenario (tests/drivers/README.md) on pgjdbc (Debian's libpostgresql-jdbc-java), run
// with the JDK's source launcher: java -cp /usr/share/java/postgresql.jar Scenario.java.
// pgjdbc speaks the extended protocol for everything by default; the simple step uses a second
// connection with preferQueryMode=simple. A PreparedStatement becomes a named server-side
// statement from its 5th execution on (prepareThreshold, default 5): the reuse step exercises
// that switch. COPY: both directions through CopyManager. Cancel: Statement.cancel() from another
// thread.
import java.io.StringReader;
import java.io.StringWriter;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.util.Properties;
import org.postgresql.PGConnection;
import org.postgresql.util.PSQLException;

public class Scenario {
  static final String TABLE = "drivers_pgjdbc";
  static final String SETTINGS_QUERY = "select current_setting('DateStyle'), "
      + "current_setting('TimeZone'), current_setting('application_name'), "
      + "current_setting('extra_float_digits'), '2024-01-02 03:04:05+00'::timestamptz::text";
  static final String SLEEP_QUERY = "select pg_sleep(20) /* drivers cancel pgjdbc */";

  static String env(String name) {
    String value = System.getenv(name);
    if (value == null) throw new IllegalStateException("missing environment " + name);
    return value;
  }

  static Connection connect(String host, Properties extra) throws SQLException {
    Properties p = new Properties();
    p.setProperty("user", env("DRIVER_USER"));
    p.setProperty("password", env("DRIVER_PASSWORD"));
    p.setProperty("connectTimeout", "10");
    p.setProperty("sslmode", "disable");
    // pgjdbc also sends DateStyle=ISO, extra_float_digits=3 and TimeZone (the JVM's, from TZ).
    p.setProperty("ApplicationName", "drivers-pgjdbc");
    p.putAll(extra);
    String url = "jdbc:postgresql://" + host + ":" + env("DRIVER_PORT") + "/"
        + env("DRIVER_DATABASE");
    return DriverManager.getConnection(url, p);
  }

  static Connection connectPlain() throws SQLException {
    return connect(env("DRIVER_HOST"), new Properties());
  }

  static String rowText(ResultSet r) throws SQLException {
    StringBuilder out = new StringBuilder();
    for (int c = 1; c <= r.getMetaData().getColumnCount(); ++c) {
      if (c > 1) out.append('|');
      String v = r.getString(c);
      out.append(v == null ? "NULL" : v);
    }
    return out.toString();
  }

  static String errorText(SQLException e) {
    String message = e.getMessage();
    if (e instanceof PSQLException && ((PSQLException) e).getServerErrorMessage() != null) {
      message = ((PSQLException) e).getServerErrorMessage().getMessage();
    }
    return e.getSQLState() + " " + message;
  }

  static String failure(Connection c, String sql) {
    try (Statement s = c.createStatement()) {
      s.execute(sql);
    } catch (SQLException e) {
      return errorText(e);
    }
    return "no error";
  }

  static String scalar(Connection c, String sql) throws SQLException {
    try (Statement s = c.createStatement(); ResultSet r = s.executeQuery(sql)) {
      r.next();
      return r.getString(1);
    }
  }

  static void copySteps(Connection c) throws Exception {
    var copy = c.unwrap(PGConnection.class).getCopyAPI();
    StringBuilder rows = new StringBuilder();
    for (int id = 101; id <= 105; ++id) {
      rows.append(id).append("\tcopy-").append(id).append("\t1.0").append(id - 100).append('\n');
    }
    long in = copy.copyIn("copy " + TABLE + " (id, name, amount) from stdin",
        new StringReader(rows.toString()));
    System.out.println("copy in: " + in);
    StringWriter out = new StringWriter();
    copy.copyOut(
        "copy (select id, name, amount from " + TABLE + " where id > 100 order by id) to stdout",
        out);
    String text = out.toString().replaceAll("\n$", "").replace('\t', ',').replace('\n', ';');
    System.out.println("copy out: " + text);
  }

  static void cancelSteps(Connection c) throws Exception {
    String[] seen = {"not seen"};
    try (Statement sleeping = c.createStatement()) {
      Thread canceller = new Thread(() -> {
        try (Connection monitor = connectPlain();
             PreparedStatement probe = monitor.prepareStatement(
                 "select count(*) from pg_stat_activity where query = ? and state = 'active'")) {
          probe.setString(1, SLEEP_QUERY);
          long deadline = System.nanoTime() + 10_000_000_000L;
          while (System.nanoTime() < deadline) {
            try (ResultSet r = probe.executeQuery()) {
              r.next();
              if (r.getLong(1) > 0) {
                sleeping.cancel();
                seen[0] = "sent";
                return;
              }
            }
            Thread.sleep(20);
          }
        } catch (Exception e) {
          seen[0] = e.toString();
        }
      });
      canceller.start();
      String outcome = "no error";
      try {
        sleeping.execute(SLEEP_QUERY);
      } catch (SQLException e) {
        outcome = errorText(e);
      }
      canceller.join();
      if (!seen[0].equals("sent")) System.out.println("cancel request: " + seen[0]);
      System.out.println("cancel: " + outcome);
    }
    System.out.println("after cancel: " + scalar(c, "select 1"));
  }

  static void tlsSteps() throws SQLException {
    Properties tls = new Properties();
    tls.setProperty("sslmode", "verify-full");
    tls.setProperty("sslrootcert", env("DRIVER_CA"));
    try (Connection c = connect(env("DRIVER_TLS_HOST"), tls)) {
      System.out.println("tls verify-full: " + scalar(c, "select 'over ' || 'tls'"));
    }
    tls.setProperty("sslrootcert", env("DRIVER_WRONG_CA"));
    try (Connection c = connect(env("DRIVER_TLS_HOST"), tls)) {
      System.out.println("tls untrusted: accepted");
    } catch (SQLException e) {
      System.out.println("tls untrusted: refused");
    }
  }

  public static void main(String[] args) throws Exception {
    System.out.println("driver: pgjdbc " + org.postgresql.util.DriverInfo.DRIVER_VERSION
        + " (java " + System.getProperty("java.version") + ")");
    try (Connection c = connectPlain()) {
      System.out.println("connect: ok");
      Properties wrong = new Properties();
      wrong.setProperty("password", "wrong");
      try (Connection refused = connect(env("DRIVER_HOST"), wrong)) {
        System.out.println("bad password: accepted");
      } catch (SQLException e) {
        System.out.println("bad password: refused " + errorText(e));
      }
      Properties simpleMode = new Properties();
      simpleMode.setProperty("preferQueryMode", "simple");
      try (Connection simple = connect(env("DRIVER_HOST"), simpleMode);
           Statement s = simple.createStatement();
           ResultSet r = s.executeQuery("select 1 as a, 'two' as b")) {
        r.next();
        System.out.println("simple: " + rowText(r));
        s.execute("drop table if exists " + TABLE + "; create table " + TABLE
            + " (id int primary key, name text, amount numeric(6,2))");
        System.out.println("setup: ok");
      }

      int inserted = 0;
      try (PreparedStatement insert = c.prepareStatement(
               "insert into " + TABLE + " (id, name, amount) values (?, ?, ?)")) {
        Object[][] rows = {{1, "one", "1.50"}, {2, "two", "2.50"}, {3, null, null}};
        for (Object[] row : rows) {
          insert.setInt(1, (Integer) row[0]);
          insert.setString(2, (String) row[1]);
          if (row[2] == null) {
            insert.setNull(3, Types.NUMERIC);
          } else {
            insert.setBigDecimal(3, new java.math.BigDecimal((String) row[2]));
          }
          inserted += insert.executeUpdate();
        }
      }
      System.out.println("extended insert: " + inserted);
      try (PreparedStatement select =
               c.prepareStatement("select id, name, amount from " + TABLE + " where id = ?")) {
        for (int id : new int[] {2, 3}) {
          select.setInt(1, id);
          try (ResultSet r = select.executeQuery()) {
            r.next();
            System.out.println((id == 2 ? "extended select: " : "extended null: ") + rowText(r));
          }
        }
      }

      int answers = 0;
      long sum = 0;
      try (PreparedStatement twice = c.prepareStatement("select ?::int * 2")) {
        for (int i = 1; i <= 100; ++i) {
          twice.setInt(1, i);
          try (ResultSet r = twice.executeQuery()) {
            r.next();
            sum += r.getLong(1);
            ++answers;
          }
        }
      }
      System.out.println("prepared: " + answers + " " + sum);
      try (Statement s = c.createStatement(); ResultSet r = s.executeQuery(SETTINGS_QUERY)) {
        r.next();
        System.out.println("settings: " + rowText(r));
      }

      c.setAutoCommit(false);
      try (Statement s = c.createStatement()) {
        s.executeUpdate("insert into " + TABLE + " (id, name) values (10, 'ten')");
      }
      System.out.println("transaction error: "
          + failure(c, "insert into " + TABLE + " (id, name) values (10, 'again')"));
      System.out.println("transaction aborted: " + failure(c, "select 1").substring(0, 5));
      c.rollback();
      c.setAutoCommit(true);
      System.out.println("transaction rollback: " + scalar(c, "select count(*) from " + TABLE));

      copySteps(c);
      cancelSteps(c);
      System.out.println("error: " + failure(c, "select * from drivers_missing"));
    }
    tlsSteps();
  }
}
