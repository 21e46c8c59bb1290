//! The HTTP status endpoint against real MariaDB servers: the `/status` document's shape,
//! `/metrics` in the Prometheus text format with counters that move, the token on
//! `POST /reload`, `/health` following the write hosts' state, the loopback default, and
//! `myshard status` printing the table.

mod harness;

use anyhow::{Context, Result, bail, ensure};
use harness::proxy::{APP_PASSWORD, APP_USER, app_conn, create_shard_databases};
use harness::{MYSHARD_PASSWORD, MYSHARD_USER, MariaDb};
use myshard_failover::HostState;
use myshard_proxy::ProxyHandle;
use myshard_proxy::admin_http::client::{Answer, request};
use mysql_async::prelude::Queryable;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

const TOKEN: &str = "s3cret-token";
const TIMEOUT: Duration = Duration::from_secs(10);

/// Two servers, `shop` sharded over 8 shards with table `t` (200 rows), the status endpoint
/// on a free loopback port, started from a file the proxy knows.
struct Setup {
    servers: Vec<MariaDb>,
    proxy: ProxyHandle,
    file: PathBuf,
    _dir: tempfile::TempDir,
}

/// The configuration text: `admin` is the `admin_http` mapping, `max` the pool limit.
fn yaml(servers: &[MariaDb], admin: &str, max: u32) -> String {
    format!(
        "listen: 127.0.0.1:0
admin_http: {admin}
users: [{{name: {APP_USER}, password: {APP_PASSWORD}, schemas: ['*'], admin: true}}]
groups:
  - {{name: g0, user: {MYSHARD_USER}, password: {MYSHARD_PASSWORD}, write_hosts: ['{a0}'], pool: {{max: {max}}}}}
  - {{name: g1, user: {MYSHARD_USER}, password: {MYSHARD_PASSWORD}, write_hosts: ['{a1}'], pool: {{max: {max}}}}}
schemas:
  - name: shop
    shards: 8
    placement: [{{group: g0, shards: '0-3'}}, {{group: g1, shards: '4-7'}}]
    tables: [{{name: t, shard_key: id}}, {{name: g, global: true}}]
",
        a0 = servers[0].addr(),
        a1 = servers[1].addr(),
    )
}

async fn setup(admin: &str) -> Result<Setup> {
    let servers = MariaDb::start_many(2).await?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("myshard.yaml");
    std::fs::write(&file, yaml(&servers, admin, 16))?;
    let config = myshard_config::load(&file).map_err(|e| anyhow::anyhow!("{e}"))?;
    create_shard_databases(&config, &[&servers[0], &servers[1]]).await?;
    let proxy = myshard_proxy::start(config).await?;
    proxy.set_config_path(&file);
    let mut conn = app_conn(&proxy, Some("shop")).await?;
    conn.query_drop("CREATE TABLE t (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)")
        .await?;
    conn.query_drop("CREATE TABLE g (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)")
        .await?;
    let values: Vec<String> = (1..=200).map(|i| format!("({i}, {i})")).collect();
    conn.query_drop(format!(
        "INSERT INTO t (id, v) VALUES {}",
        values.join(", ")
    ))
    .await?;
    conn.query_drop("INSERT INTO g (id, v) VALUES (1, 1)")
        .await?;
    Ok(Setup {
        servers,
        proxy,
        file,
        _dir: dir,
    })
}

const WITH_TOKEN: &str = "{listen: '127.0.0.1:0', token: s3cret-token}";

impl Setup {
    fn admin(&self) -> Result<String> {
        Ok(self
            .proxy
            .admin_addr()
            .context("the status endpoint is configured")?
            .to_string())
    }

    async fn get(&self, path: &str) -> Result<Answer> {
        Ok(request(&self.admin()?, "GET", path, None, TIMEOUT).await?)
    }

    async fn status(&self) -> Result<Value> {
        let a = self.get("/status").await?;
        ensure!(a.status == 200, "GET /status: {} {}", a.status, a.body);
        Ok(serde_json::from_str(&a.body)?)
    }

    async fn metrics(&self) -> Result<Samples> {
        let a = self.get("/metrics").await?;
        ensure!(a.status == 200, "GET /metrics: {} {}", a.status, a.body);
        parse_prometheus(&a.body)
    }
}

/// Field `key` of `v`, which must be present.
fn field<'a>(v: &'a Value, key: &str) -> Result<&'a Value> {
    v.get(key)
        .with_context(|| format!("field `{key}` missing in {v}"))
}

fn uint(v: &Value, key: &str) -> Result<u64> {
    field(v, key)?
        .as_u64()
        .with_context(|| format!("`{key}` is not an unsigned integer in {v}"))
}

fn string<'a>(v: &'a Value, key: &str) -> Result<&'a str> {
    field(v, key)?
        .as_str()
        .with_context(|| format!("`{key}` is not a string in {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_document_has_every_field_typed() -> Result<()> {
    let s = setup(WITH_TOKEN).await?;
    // Two more clients, and one statement each so that both groups' pools hold connections.
    let mut a = app_conn(&s.proxy, Some("shop")).await?;
    let mut b = app_conn(&s.proxy, Some("shop")).await?;
    a.query_drop("SELECT v FROM t WHERE id = 1").await?;
    b.query_drop("SELECT COUNT(*) FROM t").await?;

    let doc = s.status().await?;
    ensure!(uint(&doc, "epoch")? == s.proxy.shared().table().epoch);
    ensure!(field(&doc, "ready")?.as_bool() == Some(true), "{doc}");
    ensure!(uint(&doc, "client_sessions")? == 2, "two clients: {doc}");
    uint(&doc, "handshakes")?;
    ensure!(string(&doc, "config_path")? == s.file.display().to_string());
    ensure!(
        field(&doc, "reloads")?
            .as_array()
            .is_some_and(Vec::is_empty)
    );
    let groups = field(&doc, "groups")?.as_array().context("groups")?;
    ensure!(groups.len() == 2, "{doc}");
    for (g, server) in groups.iter().zip(&s.servers) {
        let hosts = field(g, "hosts")?.as_array().context("hosts")?;
        ensure!(hosts.len() == 1, "{g}");
        let h = &hosts[0];
        ensure!(string(g, "write_host")? == server.addr(), "{g}");
        ensure!(string(h, "address")? == server.addr());
        ensure!(string(h, "role")? == "write");
        ensure!(string(h, "state")? == "up");
        uint(h, "state_epoch")?;
        let since = field(h, "since")?.as_f64().context("since is a number")?;
        ensure!(since > 1.6e9, "since is a Unix time: {since}");
        let p = field(h, "pool")?;
        let (open, idle, max) = (uint(p, "open")?, uint(p, "idle")?, uint(p, "max")?);
        ensure!(open >= 1 && idle <= open && max == 16, "{p}");
        uint(p, "waits")?;
        uint(p, "wait_timeouts")?;
        // The health monitor's record once it has checked the host (null before).
        let health = field(h, "health")?;
        if !health.is_null() {
            ensure!(field(health, "checked_at")?.is_number(), "{health}");
            ensure!(field(health, "read_only")?.is_boolean(), "{health}");
            let gtid = field(health, "gtid_position")?;
            ensure!(gtid.is_string() || gtid.is_null(), "{health}");
            field(health, "last_error")?;
            field(health, "lag_seconds")?;
            // Replica lag measured from GTID positions (null on a write host).
            field(health, "gtid_applied")?;
            field(health, "gtid_lag_ms")?;
            field(health, "behind_gtid")?;
        }
    }
    Ok(())
}

/// Samples by series (`name{labels}` as written) and value.
type Samples = HashMap<String, f64>;

/// Parses the Prometheus text exposition format strictly: every line is a `# HELP` or
/// `# TYPE` comment or a `name{label="value",…} number` sample of a declared metric.
fn parse_prometheus(text: &str) -> Result<Samples> {
    let mut types: HashMap<String, String> = HashMap::new();
    let mut samples = Samples::new();
    let valid_name = |n: &str| {
        !n.is_empty()
            && n.chars().enumerate().all(|(i, c)| {
                c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
            })
    };
    for (no, line) in text.lines().enumerate() {
        let at = || format!("line {}: `{line}`", no + 1);
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kw, name, tail) = (parts.next(), parts.next(), parts.next());
            let (Some(kw), Some(name), Some(tail)) = (kw, name, tail) else {
                bail!("short comment, {}", at());
            };
            ensure!(valid_name(name), "metric name, {}", at());
            match kw {
                "HELP" => ensure!(!tail.is_empty(), "empty help, {}", at()),
                "TYPE" => {
                    ensure!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&tail),
                        "type, {}",
                        at()
                    );
                    ensure!(
                        types.insert(name.into(), tail.into()).is_none(),
                        "TYPE twice, {}",
                        at()
                    );
                }
                _ => bail!("unknown comment, {}", at()),
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').with_context(at)?;
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().with_context(|| format!("value, {}", at()))?,
        };
        let name = match series.split_once('{') {
            None => series,
            Some((name, labels)) => {
                let labels = labels.strip_suffix('}').with_context(at)?;
                for pair in split_labels(labels).with_context(at)? {
                    let (k, v) = pair.split_once('=').with_context(at)?;
                    ensure!(valid_name(k), "label name, {}", at());
                    ensure!(
                        v.len() >= 2 && v.starts_with('"') && v.ends_with('"'),
                        "label value, {}",
                        at()
                    );
                }
                name
            }
        };
        ensure!(valid_name(name), "metric name, {}", at());
        let base = ["_bucket", "_sum", "_count", "_total"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|b| types.get(*b).is_some_and(|t| t == "histogram"))
            })
            .unwrap_or(name);
        ensure!(types.contains_key(base), "no TYPE before sample, {}", at());
        ensure!(
            samples.insert(series.to_string(), value).is_none(),
            "series twice, {}",
            at()
        );
    }
    ensure!(!samples.is_empty(), "no samples");
    Ok(samples)
}

/// `a="x",b="y,z"` split at the commas between pairs (not inside quoted values).
fn split_labels(labels: &str) -> Option<Vec<&str>> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in labels.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&labels[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return None;
    }
    if start < labels.len() {
        out.push(&labels[start..]);
    }
    Some(out)
}

fn sample(m: &Samples, series: &str) -> Result<f64> {
    m.get(series)
        .copied()
        .with_context(|| format!("series {series} missing"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_counters_move() -> Result<()> {
    let s = setup(WITH_TOKEN).await?;
    // Connected first: the client's own set-up queries are statements too.
    let mut conn = app_conn(&s.proxy, Some("shop")).await?;
    // A client with no schema: its statements pass through to the first group unplanned.
    let mut bare = app_conn(&s.proxy, None).await?;
    let before = s.metrics().await?;
    for i in 1..=5 {
        conn.query_drop(format!("SELECT v FROM t WHERE id = {i}"))
            .await?;
    }
    conn.query_drop("SELECT COUNT(*) FROM t").await?;
    conn.query_drop("SELECT COUNT(*) FROM t").await?;
    conn.query_drop("UPDATE t SET v = v + 1 WHERE id IN (1, 2, 3, 4, 5, 6, 7, 8, 9)")
        .await?;
    conn.query_drop("UPDATE g SET v = 2 WHERE id = 1").await?;
    let refused = conn.query_drop("UPDATE t SET v = 0").await;
    let Err(mysql_async::Error::Server(refusal)) = refused else {
        bail!("an UPDATE without the shard key is refused: {refused:?}");
    };
    let unknown = conn.query_drop("USE no_such_schema").await;
    let Err(mysql_async::Error::Server(unknown)) = unknown else {
        bail!("USE of an unknown schema fails: {unknown:?}");
    };
    conn.exec_drop("SELECT v FROM t WHERE id = ?", (7,)).await?;
    // Passed through unplanned (no sharded table named): a read, a write, and a read the
    // backend answers with an error.
    bare.query_drop("SELECT 1").await?;
    bare.query_drop("DO 1").await?;
    let one: Option<i64> = bare.exec_first("SELECT ?", (1,)).await?;
    ensure!(one == Some(1));
    let missing = bare.query_drop("SELECT no_such_function()").await;
    let Err(mysql_async::Error::Server(missing)) = missing else {
        bail!("a call of a missing function fails: {missing:?}");
    };
    let after = s.metrics().await?;

    let moved = |series: &str| -> Result<f64> {
        Ok(sample(&after, series)? - sample(&before, series).unwrap_or(0.0))
    };
    let st = |kind: &str, route: &str| {
        moved(&format!(
            "myshard_statements_total{{kind=\"{kind}\",route=\"{route}\"}}"
        ))
    };
    let single = st("read", "single_shard")?;
    ensure!(single == 6.0, "5 point reads, 1 prepared: {single}");
    ensure!(st("read", "scatter")? == 2.0);
    ensure!(
        st("write", "broadcast")? == 2.0,
        "a multi-shard update, a global table"
    );
    ensure!(st("write", "refused")? == 1.0);
    ensure!(
        st("read", "passthrough")? == 3.0,
        "SELECT 1, SELECT ? prepared, the missing function"
    );
    ensure!(st("write", "passthrough")? == 1.0, "DO 1");
    // Errors the backend answered with are counted apart from the proxy's own.
    let backend_err =
        |code: u16| moved(&format!("myshard_backend_errors_total{{code=\"{code}\"}}"));
    ensure!(missing.code == 1305, "{missing:?}");
    ensure!(backend_err(1305)? == 1.0);
    ensure!(moved("myshard_backend_errors_total{code=\"other\"}")? == 0.0);
    let proxy_1305 = moved("myshard_errors_total{code=\"1305\"}").unwrap_or(0.0);
    ensure!(proxy_1305 == 0.0, "not counted as the proxy's error");
    // No read host here: no read is routed as such, none retried.
    ensure!(moved("myshard_read_retries_total")? == 0.0);
    let err = |code: u16| moved(&format!("myshard_errors_total{{code=\"{code}\"}}"));
    ensure!(err(refusal.code)? == 1.0, "refusal {}", refusal.code);
    ensure!(err(unknown.code)? == 1.0, "unknown schema {}", unknown.code);
    ensure!(moved("myshard_commands_total{command=\"query\"}")? == 14.0);
    ensure!(moved("myshard_commands_total{command=\"execute\"}")? >= 1.0);
    let count = moved("myshard_command_duration_seconds_count")?;
    let inf = moved("myshard_command_duration_seconds_bucket{le=\"+Inf\"}")?;
    ensure!(count >= 13.0 && count == inf, "count {count}, +Inf {inf}");
    ensure!(moved("myshard_command_duration_seconds_sum")? > 0.0);
    // Buckets are cumulative.
    let mut last = 0.0;
    for le in ["0.0005", "0.001", "0.01", "0.1", "1", "10", "+Inf"] {
        let v = sample(
            &after,
            &format!("myshard_command_duration_seconds_bucket{{le=\"{le}\"}}"),
        )?;
        ensure!(v >= last, "bucket {le}");
        last = v;
    }
    ensure!(sample(&after, "myshard_client_sessions")? == 2.0);
    for (g, server) in ["g0", "g1"].iter().zip(&s.servers) {
        let labels = format!("group=\"{g}\",host=\"{}\",role=\"write\"", server.addr());
        ensure!(
            sample(
                &after,
                &format!("myshard_host_state{{{labels},state=\"up\"}}")
            )? == 1.0
        );
        ensure!(
            sample(
                &after,
                &format!("myshard_host_state{{{labels},state=\"down\"}}")
            )? == 0.0
        );
        ensure!(
            sample(
                &after,
                &format!("myshard_pool_open_connections{{{labels}}}")
            )? >= 1.0
        );
        ensure!(sample(&after, &format!("myshard_pool_max_connections{{{labels}}}"))? == 16.0);
        sample(
            &after,
            &format!("myshard_pool_checkout_waits_total{{{labels}}}"),
        )?;
        ensure!(sample(&after, &format!("myshard_host_reads_total{{{labels}}}"))? == 0.0);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_waits_are_counted() -> Result<()> {
    let s = setup(WITH_TOKEN).await?;
    // One connection per host: a transaction holds g0's, so a second client queues for it.
    std::fs::write(&s.file, yaml(&s.servers, WITH_TOKEN, 1))?;
    s.proxy.shared().reload_from(&s.file)?;
    let mut holder = app_conn(&s.proxy, Some("shop")).await?;
    holder.query_drop("BEGIN").await?;
    holder
        .query_drop("SELECT v FROM t WHERE id = 1 FOR UPDATE")
        .await?;
    let proxy_addr = s.proxy.addr();
    let waiter = tokio::spawn(async move {
        let opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname(proxy_addr.ip().to_string())
            .tcp_port(proxy_addr.port())
            .user(Some(APP_USER))
            .pass(Some(APP_PASSWORD))
            .db_name(Some("shop"))
            .prefer_socket(false);
        let mut c = mysql_async::Conn::new(opts).await?;
        c.query_drop("SELECT v FROM t WHERE id = 2").await?;
        anyhow::Ok(())
    });
    let labels = format!(
        "group=\"g0\",host=\"{}\",role=\"write\"",
        s.servers[0].addr()
    );
    let series = format!("myshard_pool_checkout_waits_total{{{labels}}}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while sample(&s.metrics().await?, &series)? < 1.0 {
        ensure!(tokio::time::Instant::now() < deadline, "no wait counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    holder.query_drop("COMMIT").await?;
    waiter.await??;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_needs_the_token() -> Result<()> {
    let s = setup(WITH_TOKEN).await?;
    let admin = s.admin()?;
    let epoch = s.proxy.shared().table().epoch;
    let post = |token: Option<&'static str>| {
        let admin = admin.clone();
        async move { request(&admin, "POST", "/reload", token, TIMEOUT).await }
    };
    let missing = post(None).await?;
    ensure!(missing.status == 401, "no token: {missing:?}");
    let wrong = post(Some("s3cret-tokeN")).await?;
    ensure!(wrong.status == 403, "wrong token: {wrong:?}");
    ensure!(s.proxy.shared().table().epoch == epoch, "nothing reloaded");

    std::fs::write(&s.file, yaml(&s.servers, WITH_TOKEN, 24))?;
    let right = post(Some(TOKEN)).await?;
    ensure!(right.status == 200, "right token: {right:?}");
    let answer: Value = serde_json::from_str(&right.body)?;
    ensure!(uint(&answer, "epoch")? == epoch + 1, "{answer}");
    ensure!(s.proxy.shared().table().epoch == epoch + 1);
    ensure!(s.proxy.shared().config().groups[0].pool.max == 24);

    // A new token applies at once; moving the endpoint needs a restart.
    std::fs::write(
        &s.file,
        yaml(&s.servers, "{listen: '127.0.0.1:0', token: next}", 24),
    )?;
    ensure!(post(Some(TOKEN)).await?.status == 200);
    ensure!(
        post(Some(TOKEN)).await?.status == 403,
        "the old token is gone"
    );
    std::fs::write(&s.file, yaml(&s.servers, WITH_TOKEN, 24))?;
    ensure!(post(Some("next")).await?.status == 200);
    let moved = yaml(
        &s.servers,
        "{listen: '127.0.0.1:1', token: s3cret-token}",
        24,
    );
    std::fs::write(&s.file, moved)?;
    let refused = post(Some(TOKEN)).await?;
    ensure!(refused.status == 422, "{refused:?}");
    ensure!(refused.body.contains("admin_http"), "{refused:?}");
    let epoch = epoch + 2;
    ensure!(s.proxy.shared().table().epoch == epoch + 1);

    // A file that does not parse: 422, the configuration in force stays, history has both.
    std::fs::write(&s.file, "listen: [")?;
    let bad = post(Some(TOKEN)).await?;
    ensure!(bad.status == 422, "invalid file: {bad:?}");
    ensure!(s.proxy.shared().table().epoch == epoch + 1);
    let doc = s.status().await?;
    let reloads = field(&doc, "reloads")?.as_array().context("reloads")?;
    ensure!(reloads.len() == 5, "{doc}");
    ensure!(field(&reloads[2], "ok")? == &Value::Bool(true));
    ensure!(uint(&reloads[2], "epoch")? == epoch + 1);
    ensure!(field(&reloads[2], "time")?.as_f64().is_some());
    let last = &reloads[4];
    ensure!(field(last, "ok")? == &Value::Bool(false));
    ensure!(field(last, "epoch")?.is_null());
    ensure!(string(last, "summary")?.contains("myshard.yaml"), "{doc}");
    let m = s.metrics().await?;
    ensure!(sample(&m, "myshard_reloads_total{result=\"ok\"}")? == 3.0);
    ensure!(sample(&m, "myshard_reloads_total{result=\"failed\"}")? == 2.0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_is_refused_when_no_token_is_configured() -> Result<()> {
    let s = setup("{listen: '127.0.0.1:0'}").await?;
    let epoch = s.proxy.shared().table().epoch;
    for token in [None, Some(TOKEN)] {
        let a = request(&s.admin()?, "POST", "/reload", token, TIMEOUT).await?;
        ensure!(a.status == 403, "{a:?}");
        ensure!(a.body.contains("admin_http.token"), "{a:?}");
    }
    ensure!(s.proxy.shared().table().epoch == epoch);
    // Reading needs no token.
    ensure!(s.get("/status").await?.status == 200);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_follows_the_write_hosts() -> Result<()> {
    let s = setup(WITH_TOKEN).await?;
    let ok = s.get("/health").await?;
    ensure!(ok.status == 200, "{ok:?}");
    let table = s.proxy.shared().table();
    let g1 = table
        .group("g1")
        .and_then(|g| g.write.clone())
        .context("g1")?;
    g1.set_state(HostState::Down);
    let down = s.get("/health").await?;
    ensure!(down.status == 503, "{down:?}");
    ensure!(
        down.body.contains("g1") && down.body.contains("down"),
        "{down:?}"
    );
    let doc = s.status().await?;
    ensure!(field(&doc, "ready")? == &Value::Bool(false));
    ensure!(
        string(&doc["groups"][1]["hosts"][0], "state")? == "down",
        "{doc}"
    );
    let m = s.metrics().await?;
    let labels = format!(
        "group=\"g1\",host=\"{}\",role=\"write\"",
        s.servers[1].addr()
    );
    ensure!(
        sample(
            &m,
            &format!("myshard_host_state{{{labels},state=\"down\"}}")
        )? == 1.0
    );
    g1.set_state(HostState::Up);
    ensure!(s.get("/health").await?.status == 200);
    Ok(())
}

#[test]
fn the_endpoint_listens_on_loopback_by_default() -> Result<()> {
    let text = "listen: 127.0.0.1:3307
admin_http: {token: t}
users: [{name: u, schemas: ['*']}]
groups: [{name: g, user: u, write_hosts: ['127.0.0.1:3306']}]
schemas: [{name: s, group: g}]
";
    let config = myshard_config::parse(text, "default").map_err(|e| anyhow::anyhow!("{e}"))?;
    let admin = config.admin_http.context("configured")?;
    ensure!(admin.listen == myshard_config::DEFAULT_ADMIN_HTTP_LISTEN);
    let addr: std::net::SocketAddr = admin.listen.parse()?;
    ensure!(addr.ip().is_loopback(), "{addr}");
    // Absent: no endpoint at all.
    let off = text.replace("admin_http: {token: t}\n", "");
    let config = myshard_config::parse(&off, "off").map_err(|e| anyhow::anyhow!("{e}"))?;
    ensure!(config.admin_http.is_none());
    // A bad address is an error naming the field and line.
    let bad = text.replace("{token: t}", "{listen: 'nowhere'}");
    let e = myshard_config::parse(&bad, "bad").expect_err("invalid address");
    ensure!(e.to_string().contains("bad:2: admin_http.listen"), "{e}");
    Ok(())
}

/// Writes a copy of `file` whose `admin_http` names `addr` (what an operator's file says
/// for a running proxy), for `myshard status`.
fn file_for_cli(s: &Setup, dir: &Path) -> Result<PathBuf> {
    let path = dir.join("cli.yaml");
    std::fs::write(
        &path,
        yaml(&s.servers, &format!("{{listen: '{}'}}", s.admin()?), 16),
    )?;
    Ok(path)
}

/// Runs `myshard status --config file` (off the async workers: it blocks).
async fn run_status(file: PathBuf) -> Result<std::process::Output> {
    Ok(tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_myshard"))
            .args(["status", "--config"])
            .arg(file)
            .output()
    })
    .await??)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn myshard_status_prints_the_table() -> Result<()> {
    let s = setup(WITH_TOKEN).await?;
    let dir = tempfile::tempdir()?;
    let cli = file_for_cli(&s, dir.path())?;
    let _client = app_conn(&s.proxy, Some("shop")).await?;
    let g1 = s
        .proxy
        .shared()
        .table()
        .group("g1")
        .and_then(|g| g.write.clone());
    g1.context("g1")?.set_state(HostState::Draining);
    let out = run_status(cli).await?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(text.contains("NOT READY"), "{text}");
    ensure!(text.contains("client sessions 1"), "{text}");
    let row = |group: &str| {
        text.lines()
            .find(|l| l.starts_with(group))
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
    };
    let g0 = row("g0").context("g0 row")?;
    ensure!(
        g0[1] == s.servers[0].addr() && g0[2] == "write" && g0[3] == "up",
        "{text}"
    );
    ensure!(g0[6] == "16", "max: {text}");
    let g1 = row("g1").context("g1 row")?;
    ensure!(g1[3] == "draining", "{text}");
    // No endpoint configured: a clear error, not a hang.
    let off = dir.path().join("off.yaml");
    std::fs::write(&off, yaml(&s.servers, "null", 16))?;
    let out = run_status(off).await?;
    ensure!(!out.status.success());
    ensure!(String::from_utf8_lossy(&out.stderr).contains("admin_http is not configured"));
    Ok(())
}
