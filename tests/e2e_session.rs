//! End-to-end tests of the proxy's connection phase and connection-level commands against
//! real MariaDB servers: authentication plugins and refusals, COM_PING, COM_INIT_DB / USE
//! across groups, COM_FIELD_LIST, COM_STATISTICS, COM_SET_OPTION, COM_RESET_CONNECTION,
//! COM_CHANGE_USER, unknown commands, KILL and connection ids.

mod harness;

use anyhow::{Context, Result, ensure};
use harness::e2e::{Env, server_err, wait_for};
use harness::proxy::{APP_PASSWORD, APP_USER, app_conn, proxy_opts};
use harness::raw::{Login, RawConn, ResultPart, column_name};
use myshard_config::{Schema, User};
use mysql_async::prelude::Queryable;
use mysql_async::{ChangeUserOpts, Conn};
use std::time::{Duration, Instant};

/// A user limited to schema s0, and one without a password.
fn extra_users(c: &mut myshard_config::Config) {
    c.users.push(User::new("ro", "ro-pw", &["s0"]));
    c.users.push(User::new("nopw", "", &["*"]));
}

/// Adds schema `s1` on group g0 (for single-server tests).
fn s1_on_g0(c: &mut myshard_config::Config) {
    c.schemas.push(Schema::unsharded("s1", "g0", Some("s1_db")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_plugins_and_refusals() -> Result<()> {
    let env = Env::start(1, |c| {
        extra_users(c);
        s1_on_g0(c);
    })
    .await?;
    env.dbs[0].exec("CREATE DATABASE s1_db").await?;
    let p = &env.proxy;
    let addr = p.addr();

    // mysql_async follows the advertised caching_sha2_password.
    let mut conn = app_conn(p, Some("s0")).await?;
    // Clients see the logical schema, not its physical database.
    let db: Option<String> = conn.query_first("SELECT DATABASE()").await?;
    assert_eq!(db.as_deref(), Some("s0"));
    conn.disconnect().await?;

    // Raw clients: native, caching_sha2, an unknown plugin (AuthSwitch to native), and a
    // client without CLIENT_PLUGIN_AUTH.
    for plugin in [
        Some("mysql_native_password"),
        Some("caching_sha2_password"),
        Some("client_ed25519"),
        None,
    ] {
        let mut login = Login::new(APP_USER, APP_PASSWORD, Some("s0"));
        login.plugin = plugin;
        let mut raw = RawConn::login(addr, &login)
            .await?
            .map_err(|e| anyhow::anyhow!("login with {plugin:?} refused: {e:?}"))?;
        assert_eq!(raw.greeting.plugin, "caching_sha2_password");
        assert!(
            raw.greeting.server_version.contains("MariaDB"),
            "{}",
            raw.greeting.server_version
        );
        let rows = raw.query("SELECT 1 + 1, DATABASE()").await?.text_rows()?;
        assert_eq!(
            rows,
            vec![vec!["2".to_string(), "s0".to_string()]],
            "{plugin:?}"
        );
    }

    // Wrong password, both plugins and mysql_async.
    for plugin in ["mysql_native_password", "caching_sha2_password"] {
        let mut login = Login::new(APP_USER, "wrong", None);
        login.plugin = Some(plugin);
        let e = RawConn::login(addr, &login)
            .await?
            .err()
            .context("wrong password accepted")?;
        assert_eq!((e.code, e.state.as_str()), (1045, "28000"), "{plugin}");
        assert_eq!(
            e.message,
            "Access denied for user 'app'@'127.0.0.1' (using password: YES)"
        );
    }
    let (code, state, msg) = server_err(Conn::new(proxy_opts(p, APP_USER, "wrong", None)).await)?;
    assert_eq!((code, state.as_str()), (1045, "28000"), "{msg}");
    let (code, _, msg) = server_err(Conn::new(proxy_opts(p, "nobody", "x", None)).await)?;
    assert_eq!(code, 1045);
    assert_eq!(
        msg,
        "Access denied for user 'nobody'@'127.0.0.1' (using password: YES)"
    );

    // Unknown schema and a schema the user may not use.
    let (code, state, msg) =
        server_err(Conn::new(proxy_opts(p, APP_USER, APP_PASSWORD, Some("nope"))).await)?;
    assert_eq!(
        (code, state.as_str(), msg.as_str()),
        (1049, "42000", "Unknown database 'nope'")
    );
    let (code, state, msg) = server_err(Conn::new(proxy_opts(p, "ro", "ro-pw", Some("s1"))).await)?;
    assert_eq!(
        (code, state.as_str(), msg.as_str()),
        (
            1044,
            "42000",
            "Access denied for user 'ro'@'127.0.0.1' to database 's1'"
        )
    );
    let e = RawConn::login(addr, &Login::new("ro", "ro-pw", Some("s1")))
        .await?
        .err()
        .context("schema not allowed accepted")?;
    assert_eq!((e.code, e.state.as_str()), (1044, "42000"));

    // The restricted user works in its schema; USE of another is refused and the
    // connection keeps working in its schema.
    let mut ro = Conn::new(proxy_opts(p, "ro", "ro-pw", Some("s0"))).await?;
    let (code, state, _) = server_err(ro.query_drop("USE s1").await)?;
    assert_eq!((code, state.as_str()), (1044, "42000"));
    let db: Option<String> = ro.query_first("SELECT DATABASE()").await?;
    assert_eq!(db.as_deref(), Some("s0"));
    ro.disconnect().await?;

    // A user without a password: mysql_async and raw native; a password given is refused.
    let mut nopw = Conn::new(proxy_opts(p, "nopw", "", Some("s0"))).await?;
    let one: Option<i64> = nopw.query_first("SELECT 1").await?;
    assert_eq!(one, Some(1));
    nopw.disconnect().await?;
    for plugin in ["mysql_native_password", "caching_sha2_password"] {
        let mut login = Login::new("nopw", "", None);
        login.plugin = Some(plugin);
        let mut raw = RawConn::login(addr, &login)
            .await?
            .map_err(|e| anyhow::anyhow!("empty password refused: {e:?}"))?;
        assert_eq!(raw.query("SELECT 7").await?.text_rows()?, vec![vec!["7"]]);
        let mut login = Login::new("nopw", "something", None);
        login.plugin = Some(plugin);
        let e = RawConn::login(addr, &login)
            .await?
            .err()
            .context("password for a passwordless user accepted")?;
        assert_eq!(e.code, 1045);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_init_db_and_use_switch_groups() -> Result<()> {
    let env = Env::start(2, |_| {}).await?;
    let p = &env.proxy;
    let mut conn = app_conn(p, Some("s0")).await?;
    conn.ping().await?;
    conn.query_drop("CREATE TABLE t (id INT PRIMARY KEY, src VARCHAR(10))")
        .await?;
    conn.query_drop("INSERT INTO t VALUES (1, 'from s0')")
        .await?;
    conn.query_drop("USE s1").await?;
    conn.query_drop("CREATE TABLE t (id INT PRIMARY KEY, src VARCHAR(10))")
        .await?;
    conn.query_drop("INSERT INTO t VALUES (2, 'from s1')")
        .await?;
    let db: Option<String> = conn.query_first("SELECT DATABASE()").await?;
    assert_eq!(db.as_deref(), Some("s1"));
    conn.ping().await?;
    conn.query_drop("USE `s0`").await?;
    let ids: Vec<i32> = conn.query("SELECT id FROM t").await?;
    assert_eq!(ids, [1]);
    // The data of each schema is on its own server only.
    assert_eq!(
        env.dbs[0].query::<i32>("SELECT id FROM s0_db.t").await?,
        [1]
    );
    assert_eq!(
        env.dbs[1].query::<i32>("SELECT id FROM s1_db.t").await?,
        [2]
    );
    let on_first: Vec<String> = env.dbs[0]
        .query("SELECT schema_name FROM information_schema.schemata WHERE schema_name = 's1_db'")
        .await?;
    assert!(on_first.is_empty());
    let (code, state, msg) = server_err(conn.query_drop("USE nope").await)?;
    assert_eq!(
        (code, state.as_str(), msg.as_str()),
        (1049, "42000", "Unknown database 'nope'")
    );
    let ids: Vec<i32> = conn.query("SELECT id FROM t").await?;
    assert_eq!(ids, [1], "a failed USE keeps the schema");
    conn.disconnect().await?;

    // COM_INIT_DB (raw), starting without a schema.
    let mut raw = RawConn::login(p.addr(), &Login::new(APP_USER, APP_PASSWORD, None))
        .await?
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    assert_eq!(
        raw.query("SELECT DATABASE()").await?.text_rows()?,
        vec![vec!["NULL"]]
    );
    raw.send(b"\x02s1").await?;
    let ok = raw.read_packet().await?;
    assert_eq!(ok.first(), Some(&0x00), "{ok:?}");
    assert_eq!(raw.last_seq, 1);
    assert_eq!(
        raw.query("SELECT src FROM t").await?.text_rows()?,
        vec![vec!["from s1"]]
    );
    raw.send(b"\x02nope").await?;
    let e = harness::raw::parse_err(&raw.read_packet().await?).context("expected ERR")?;
    assert_eq!((e.code, e.state.as_str()), (1049, "42000"));
    raw.send(b"\x02s0").await?;
    assert_eq!(raw.read_packet().await?.first(), Some(&0x00));
    raw.query("INSERT INTO t VALUES (3, 'init_db')")
        .await?
        .results()?;
    assert_eq!(
        env.dbs[0]
            .query::<i32>("SELECT id FROM s0_db.t ORDER BY id")
            .await?,
        [1, 3]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_list_statistics_set_option_and_unknown_commands() -> Result<()> {
    let env = Env::start(1, |_| {}).await?;
    env.dbs[0]
        .exec("CREATE TABLE s0_db.t (id INT PRIMARY KEY, name VARCHAR(20), note TEXT)")
        .await?;
    let mut raw = RawConn::login(
        env.proxy.addr(),
        &Login::new(APP_USER, APP_PASSWORD, Some("s0")),
    )
    .await?
    .map_err(|e| anyhow::anyhow!("{e:?}"))?;

    // COM_FIELD_LIST: column definitions up to EOF.
    raw.send(b"\x04t\0").await?;
    let mut names = Vec::new();
    loop {
        let p = raw.read_packet().await?;
        if p.first() == Some(&0xFE) && p.len() < 9 {
            break;
        }
        names.push(column_name(&p)?);
    }
    assert_eq!(names, ["id", "name", "note"]);
    raw.send(b"\x04t\0na%").await?;
    let first = raw.read_packet().await?;
    assert_eq!(column_name(&first)?, "name");
    let eof = raw.read_packet().await?;
    assert_eq!(eof.first(), Some(&0xFE));
    raw.send(b"\x04missing\0").await?;
    let e = harness::raw::parse_err(&raw.read_packet().await?).context("ERR")?;
    assert_eq!((e.code, e.state.as_str()), (1146, "42S02"));
    // The message names the logical schema, not its physical database.
    assert_eq!(e.message, "Table 's0.missing' doesn't exist");

    // COM_STATISTICS: one text packet.
    raw.send(b"\x09").await?;
    let stats = String::from_utf8(raw.read_packet().await?)?;
    assert!(stats.starts_with("Uptime: "), "{stats}");
    assert!(stats.contains("Threads: "), "{stats}");
    assert_eq!(raw.last_seq, 1);

    // COM_PING answered by the proxy, with the session's status flags.
    raw.send(&[0x0E]).await?;
    let ok = raw.read_packet().await?;
    assert_eq!(
        ok,
        [0x00, 0, 0, 0x02, 0, 0, 0],
        "OK with SERVER_STATUS_AUTOCOMMIT"
    );
    raw.query("SET autocommit = 0").await?.results()?;
    raw.send(&[0x0E]).await?;
    assert_eq!(raw.read_packet().await?, [0x00, 0, 0, 0, 0, 0, 0]);
    raw.query("SET autocommit = 1").await?.results()?;
    raw.query("BEGIN").await?.results()?;
    raw.send(&[0x0E]).await?;
    let ok = raw.read_packet().await?;
    assert_eq!(
        ok,
        [0x00, 0, 0, 0x03, 0, 0, 0],
        "OK with IN_TRANS | AUTOCOMMIT"
    );
    raw.query("ROLLBACK").await?.results()?;
    // COM_SET_OPTION: off refuses multi-statement text, on accepts it again.
    let multi = "SELECT 1; SELECT 2";
    assert_eq!(raw.query(multi).await?.results()?.len(), 2);
    raw.send(&[0x1B, 1, 0]).await?;
    let eof = raw.read_packet().await?;
    assert!(eof.first() == Some(&0xFE) && eof.len() == 5, "{eof:?}");
    let e = raw.query(multi).await?.err()?;
    assert_eq!((e.code, e.state.as_str()), (1064, "42000"), "{e:?}");
    raw.send(&[0x1B, 0, 0]).await?;
    assert_eq!(raw.read_packet().await?.first(), Some(&0xFE));
    assert_eq!(raw.query(multi).await?.results()?.len(), 2);
    raw.send(&[0x1B, 7, 0]).await?;
    let e = harness::raw::parse_err(&raw.read_packet().await?).context("ERR")?;
    assert_eq!(e.code, 1047);

    // Unknown commands: 1047, and the connection keeps working.
    for cmd in [
        0x05u8, 0x06, 0x07, 0x08, 0x0A, 0x0D, 0x12, 0x1C, 0x1D, 0x20, 0xFE,
    ] {
        raw.send(&[cmd, 0x00]).await?;
        let p = raw.read_packet().await?;
        let e = harness::raw::parse_err(&p).with_context(|| format!("cmd {cmd:#x}: {p:?}"))?;
        assert_eq!((e.code, e.state.as_str()), (1047, "08S01"), "cmd {cmd:#x}");
        assert_eq!(raw.last_seq, 1);
        assert_eq!(raw.query("SELECT 5").await?.text_rows()?, vec![vec!["5"]]);
    }
    // An empty command packet is refused too.
    raw.send(&[]).await?;
    let e = harness::raw::parse_err(&raw.read_packet().await?).context("ERR")?;
    assert_eq!(e.code, 1835);
    assert_eq!(raw.query("SELECT 6").await?.text_rows()?, vec![vec!["6"]]);
    // COM_QUIT closes.
    raw.send(&[0x01]).await?;
    assert!(raw.closed_by_server().await?);

    // A client without CLIENT_MULTI_STATEMENTS gets multi-statement text refused, even
    // on pooled connections that other clients used with it on.
    let mut login = Login::new(APP_USER, APP_PASSWORD, Some("s0"));
    login.capabilities &= !harness::raw::caps::MULTI_STATEMENTS;
    let mut single = RawConn::login(env.proxy.addr(), &login)
        .await?
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    for _ in 0..2 {
        let e = single.query("SELECT 1; SELECT 2").await?.err()?;
        assert_eq!(e.code, 1064, "{e:?}");
        assert_eq!(
            single.query("SELECT 3").await?.text_rows()?,
            vec![vec!["3"]]
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_connection_restores_session_defaults() -> Result<()> {
    let env = Env::start(1, |c| c.groups[0].pool.max = 2).await?;
    let default_mode: Option<String> = env.dbs[0]
        .query("SELECT @@global.sql_mode")
        .await?
        .into_iter()
        .next();
    let mut conn = app_conn(&env.proxy, Some("s0")).await?;
    conn.query_drop("SET SESSION sql_mode = 'ANSI_QUOTES', time_zone = '+05:00'")
        .await?;
    conn.query_drop("SET @v = 42").await?;
    conn.query_drop("CREATE TABLE kept (a INT) ENGINE=InnoDB")
        .await?;
    conn.query_drop("CREATE TEMPORARY TABLE tmp (a INT)")
        .await?;
    // An open transaction is rolled back by the reset.
    conn.query_drop("BEGIN").await?;
    conn.query_drop("INSERT INTO kept VALUES (1)").await?;
    conn.query_drop("INSERT INTO tmp VALUES (1)").await?;
    let (mode, tz, v): (String, String, Option<i64>) = conn
        .query_first("SELECT @@session.sql_mode, @@session.time_zone, @v")
        .await?
        .context("row")?;
    assert_eq!(
        (mode.as_str(), tz.as_str(), v),
        ("ANSI_QUOTES", "+05:00", Some(42))
    );

    assert!(conn.reset().await?, "COM_RESET_CONNECTION not sent");
    let kept: Vec<i32> = env.dbs[0].query("SELECT a FROM s0_db.kept").await?;
    assert!(
        kept.is_empty(),
        "the transaction survived the reset: {kept:?}"
    );
    let (mode, tz, v): (String, String, Option<i64>) = conn
        .query_first("SELECT @@session.sql_mode, @@session.time_zone, @v")
        .await?
        .context("row")?;
    assert_eq!(Some(mode), default_mode);
    assert_eq!(tz, "SYSTEM");
    assert_eq!(v, None);
    let (code, _, _) = server_err(conn.query_drop("SELECT * FROM tmp").await)?;
    assert_eq!(code, 1146, "temporary table survived the reset");
    let db: Option<String> = conn.query_first("SELECT DATABASE()").await?;
    assert_eq!(db.as_deref(), Some("s0"), "the schema is kept");
    // Statements after the reset land on pooled connections again; nothing leaked into
    // them.
    let mut other = app_conn(&env.proxy, Some("s0")).await?;
    for c in [&mut conn, &mut other] {
        for _ in 0..4 {
            let (mode, tz): (String, String) = c
                .query_first("SELECT @@session.sql_mode, @@session.time_zone")
                .await?
                .context("row")?;
            assert_eq!((Some(mode), tz.as_str()), (default_mode.clone(), "SYSTEM"));
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_user_reauthenticates_and_resets() -> Result<()> {
    let env = Env::start(1, |c| {
        extra_users(c);
        s1_on_g0(c);
    })
    .await?;
    env.dbs[0].exec("CREATE DATABASE s1_db").await?;
    let mut conn = app_conn(&env.proxy, Some("s1")).await?;
    conn.query_drop("SET time_zone = '+02:00'").await?;
    conn.query_drop("SET @v = 1").await?;
    conn.change_user(
        ChangeUserOpts::default()
            .with_user(Some("ro".into()))
            .with_pass(Some("ro-pw".into()))
            .with_db_name(Some("s0".into())),
    )
    .await?;
    let (db, tz, v): (Option<String>, String, Option<i64>) = conn
        .query_first("SELECT DATABASE(), @@session.time_zone, @v")
        .await?
        .context("row")?;
    assert_eq!(
        (db.as_deref(), tz.as_str(), v),
        (Some("s0"), "SYSTEM", None)
    );
    // Now the restricted user's rights apply.
    let (code, _, msg) = server_err(conn.query_drop("USE s1").await)?;
    assert_eq!(code, 1044, "{msg}");
    // Back to app without a schema.
    conn.change_user(
        ChangeUserOpts::default()
            .with_user(Some(APP_USER.into()))
            .with_pass(Some(APP_PASSWORD.into()))
            .with_db_name(None),
    )
    .await?;
    conn.query_drop("USE s1").await?;
    let db: Option<String> = conn.query_first("SELECT DATABASE()").await?;
    assert_eq!(db.as_deref(), Some("s1"));
    // A wrong password fails and the connection is closed.
    let r = conn
        .change_user(
            ChangeUserOpts::default()
                .with_user(Some("ro".into()))
                .with_pass(Some("bad".into())),
        )
        .await;
    let (code, state, _) = server_err(r)?;
    assert_eq!((code, state.as_str()), (1045, "28000"));
    assert!(conn.query_drop("SELECT 1").await.is_err());
    Ok(())
}

/// The backend thread running `SELECT SLEEP(…)`, once it shows in the processlist.
async fn sleeping_backend_thread(db: &harness::MariaDb) -> Result<u64> {
    wait_for(
        "SLEEP to run on the backend",
        Duration::from_secs(10),
        || async {
            let ids: Vec<u64> = db
            .query("SELECT id FROM information_schema.processlist WHERE info LIKE 'SELECT SLEEP(%'")
            .await?;
            Ok(ids.first().copied())
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_query_and_kill_connection() -> Result<()> {
    let env = Env::start(1, |c| {
        extra_users(c);
        c.groups[0].pool.max = 4;
    })
    .await?;
    let p = &env.proxy;
    let mut killer = app_conn(p, Some("s0")).await?;

    // KILL QUERY interrupts the statement; the victim keeps working.
    let mut victim = app_conn(p, Some("s0")).await?;
    let victim_id = victim.id();
    let started = Instant::now();
    let task = tokio::spawn(async move {
        let r = victim.query_drop("SELECT SLEEP(30)").await;
        (victim, r)
    });
    sleeping_backend_thread(&env.dbs[0]).await?;
    killer.query_drop(format!("KILL QUERY {victim_id}")).await?;
    let (mut victim, r) = task.await?;
    let (code, state, msg) = server_err(r)?;
    assert_eq!(
        (code, state.as_str(), msg.as_str()),
        (1317, "70100", "Query execution was interrupted")
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    let one: Option<i64> = victim.query_first("SELECT 1").await?;
    assert_eq!(one, Some(1));

    // KILL of an idle connection closes it.
    let victim_id = victim.id();
    killer.query_drop(format!("KILL {victim_id}")).await?;
    let r = victim.query_drop("SELECT 1").await;
    assert!(
        !matches!(r, Ok(()) | Err(mysql_async::Error::Server(_))),
        "killed connection answered: {r:?}"
    );
    wait_for(
        "the registry to forget the victim",
        Duration::from_secs(5),
        || async {
            let gone = p
                .shared()
                .registry
                .lock()
                .map(|r| !r.contains_key(&u64::from(victim_id)))
                .unwrap_or(false);
            Ok(gone.then_some(()))
        },
    )
    .await?;

    // KILL CONNECTION during a statement: the statement stops and the connection closes.
    let mut victim = app_conn(p, Some("s0")).await?;
    let victim_id = victim.id();
    let task = tokio::spawn(async move { victim.query_drop("SELECT SLEEP(30)").await });
    sleeping_backend_thread(&env.dbs[0]).await?;
    killer
        .query_drop(format!("KILL CONNECTION {victim_id}"))
        .await?;
    let r = tokio::time::timeout(Duration::from_secs(10), task).await??;
    assert!(r.is_err(), "{r:?}");

    // Unknown id, and another user's connection.
    let (code, state, msg) = server_err(killer.query_drop("KILL 999999").await)?;
    assert_eq!(
        (code, state.as_str(), msg.as_str()),
        (1094, "HY000", "Unknown thread id: 999999")
    );
    let (code, _, _) = server_err(killer.query_drop("KILL QUERY 999999").await)?;
    assert_eq!(code, 1094);
    let mut other = Conn::new(proxy_opts(p, "ro", "ro-pw", Some("s0"))).await?;
    let (code, state, msg) = server_err(killer.query_drop(format!("KILL {}", other.id())).await)?;
    assert_eq!(
        (code, state.as_str(), msg.as_str()),
        (
            1095,
            "HY000",
            format!("You are not owner of thread {}", other.id()).as_str()
        )
    );
    let one: Option<i64> = other.query_first("SELECT 1").await?;
    assert_eq!(one, Some(1), "a refused KILL must not touch the connection");
    // COM_PROCESS_KILL (raw) works the same way.
    let mut raw = RawConn::login(p.addr(), &Login::new(APP_USER, APP_PASSWORD, Some("s0")))
        .await?
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let mut cmd = vec![0x0C];
    cmd.extend_from_slice(&other.id().to_le_bytes());
    raw.send(&cmd).await?;
    let e = harness::raw::parse_err(&raw.read_packet().await?).context("ERR")?;
    assert_eq!(e.code, 1095);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_id_is_the_proxy_id() -> Result<()> {
    let env = Env::start(1, |c| c.groups[0].pool.max = 2).await?;
    let mut a = app_conn(&env.proxy, Some("s0")).await?;
    let mut b = app_conn(&env.proxy, Some("s0")).await?;
    assert_ne!(a.id(), b.id());
    for c in [&mut a, &mut b] {
        let id: Option<u64> = c.query_first("SELECT CONNECTION_ID()").await?;
        assert_eq!(id, Some(u64::from(c.id())));
        let id: Option<u64> = c.query_first("select connection_id() ;").await?;
        assert_eq!(id, Some(u64::from(c.id())));
    }
    // Its metadata matches what MariaDB sends.
    let mut direct = env.dbs[0].conn().await?;
    for sql in [
        "SELECT CONNECTION_ID()",
        "SELECT CONNECTION_ID() AS `the id`",
    ] {
        let want: mysql_async::Row = direct.query_first(sql).await?.context("row")?;
        let got: mysql_async::Row = a.query_first(sql).await?.context("row")?;
        assert_eq!(got.columns_ref(), want.columns_ref(), "{sql}");
        assert_eq!(got.get::<u64, _>(0), Some(u64::from(a.id())));
    }
    let mut raw = RawConn::login(env.proxy.addr(), &Login::new(APP_USER, APP_PASSWORD, None))
        .await?
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let rows = raw.query("SELECT CONNECTION_ID()").await?.results()?;
    let ResultPart::Rows { columns, rows } = &rows[0] else {
        anyhow::bail!("no rows: {rows:?}");
    };
    assert_eq!(columns, &["CONNECTION_ID()"]);
    assert_eq!(
        rows,
        &vec![vec![Some(raw.greeting.conn_id.to_string().into_bytes())]]
    );
    // The id is what KILL takes.
    let id: u64 = b
        .query_first("SELECT CONNECTION_ID()")
        .await?
        .context("row")?;
    a.query_drop(format!("KILL {id}")).await?;
    ensure!(b.query_drop("SELECT 1").await.is_err(), "b still alive");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_capabilities_select_the_pool() -> Result<()> {
    let env = Env::start(1, |_| {}).await?;
    env.dbs[0]
        .exec("CREATE TABLE s0_db.t (id INT PRIMARY KEY, v INT); INSERT INTO s0_db.t VALUES (1, 1), (2, 1)")
        .await?;
    let mut plain = app_conn(&env.proxy, Some("s0")).await?;
    let found_opts = mysql_async::OptsBuilder::from_opts(proxy_opts(
        &env.proxy,
        APP_USER,
        APP_PASSWORD,
        Some("s0"),
    ))
    .client_found_rows(true);
    let mut found = Conn::new(found_opts).await?;
    for _ in 0..3 {
        plain
            .query_drop("UPDATE t SET v = 1 WHERE id IN (1, 2)")
            .await?;
        assert_eq!(
            plain.affected_rows(),
            0,
            "changed rows without CLIENT_FOUND_ROWS"
        );
        found
            .query_drop("UPDATE t SET v = 1 WHERE id IN (1, 2)")
            .await?;
        assert_eq!(
            found.affected_rows(),
            2,
            "matched rows with CLIENT_FOUND_ROWS"
        );
    }
    Ok(())
}
