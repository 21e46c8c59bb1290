//! Migration progress as `GET /migrations`, `/status` and `/metrics` show it: rows copied
//! against the total, bytes, copy speed, ETA and copy duration once a migration ran; and
//! during catch-up the lag of the `myshard_<database>` replication connection (GTID
//! distance rising while its applier is stopped, back to 0 once it applied everything).

mod harness;

use anyhow::{Context, Result};
use harness::migration;
use harness::proxy::{ShardedCluster, app_conn};
use myshard_proxy::admin_http::client::{request, request_with_body};
use myshard_proxy::migration::progress;
use mysql_async::prelude::Queryable;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const TOKEN: &str = "progress-token";
/// The shard moved over HTTP (on g0 in the configuration).
const MOVED: u32 = 1;
/// The shard whose catch-up is watched (on g0; progress is per database and process-wide,
/// so the two tests move different shards).
const LAGGING: u32 = 0;

fn state_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("myshard-progress-{name}-{}", std::process::id()))
}

/// Four shards over g0 and g1 (distinct GTID domains), `rows` rows of table `t`.
async fn cluster(state: &std::path::Path, rows: i64) -> Result<ShardedCluster> {
    let c = migration::cluster(state, |cfg| {
        cfg.admin_http = Some(myshard_config::AdminHttp {
            listen: "127.0.0.1:0".into(),
            token: Some(TOKEN.into()),
        });
    })
    .await?;
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    conn.query_drop("CREATE TABLE t (id BIGINT PRIMARY KEY, v BIGINT NOT NULL, pad VARCHAR(64))")
        .await?;
    for start in (1..=rows).step_by(2000) {
        let values: Vec<String> = (start..(start + 2000).min(rows + 1))
            .map(|i| format!("({i}, {i}, REPEAT('p', 40))"))
            .collect();
        conn.query_drop(format!("INSERT INTO t VALUES {}", values.join(", ")))
            .await?;
    }
    Ok(c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_shows_rows_bytes_speed_and_eta_over_http() -> Result<()> {
    let state = state_dir("http");
    let c = cluster(&state, 8000).await?;
    let db = format!("shop_{MOVED:04}");
    let on_shard: Vec<u64> = c.g0.query(&format!("SELECT COUNT(*) FROM {db}.t")).await?;
    let on_shard = on_shard.first().copied().context("count")?;
    let admin = c.proxy.admin_addr().context("admin endpoint")?.to_string();
    let t = Duration::from_secs(10);
    let body = format!(r#"{{"schema": "shop", "shard": {MOVED}, "to": "g1"}}"#);
    let started = request_with_body(&admin, "POST", "/migrations", Some(TOKEN), &body, t).await?;
    assert_eq!(started.status, 202, "{started:?}");
    // Poll while it runs: the rows copied never go back and never pass the total.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut copied_seen = Vec::new();
    let shown = loop {
        let list = request(&admin, "GET", "/migrations", None, t).await?;
        assert_eq!(list.status, 200, "{list:?}");
        let list: serde_json::Value = serde_json::from_str(&list.body)?;
        let m = list[0].clone();
        if let Some(p) = m["progress"].as_object() {
            let (copied, total) = (p["rows_copied"].as_u64(), p["rows_total"].as_u64());
            assert!(copied <= total, "{m}");
            copied_seen.push(copied.unwrap_or(0));
        }
        if m["phase"] == "cut_over" || Instant::now() > deadline {
            break m;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(shown["phase"], "cut_over", "{shown}");
    assert!(
        copied_seen.windows(2).all(|w| w[0] <= w[1]),
        "rows copied only grow: {copied_seen:?}"
    );
    let p = &shown["progress"];
    assert_eq!(p["rows_copied"], on_shard, "{shown}");
    assert_eq!(p["rows_total"], on_shard, "{shown}");
    // Every row is at least its 40-byte pad as SQL text.
    assert!(p["bytes_copied"].as_u64() > Some(on_shard * 40), "{shown}");
    assert!(p["copy_ms"].is_u64(), "{shown}");
    assert!(p["rows_per_second"].as_f64() > Some(0.0), "{shown}");
    assert!(p["bytes_per_second"].as_f64() > Some(0.0), "{shown}");
    assert_eq!(p["eta_seconds"], 0, "{shown}");
    // The same in /status.
    let status = request(&admin, "GET", "/status", None, t).await?;
    let status: serde_json::Value = serde_json::from_str(&status.body)?;
    assert_eq!(status["migrations"][0]["progress"], *p, "{status}");
    let _ = std::fs::remove_dir_all(&state);
    Ok(())
}

/// Waits until `database`'s progress satisfies `ok`.
async fn progress_until(
    database: &str,
    ok: impl Fn(&progress::Progress) -> bool,
) -> Result<progress::Progress> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let p = progress::of(database).context("progress")?;
        if ok(&p) {
            return Ok(p);
        }
        anyhow::ensure!(Instant::now() < deadline, "progress stays {p:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catch_up_lag_is_sampled_while_the_target_replicates() -> Result<()> {
    let state = state_dir("lag");
    let c = cluster(&state, 40).await?;
    let db = format!("shop_{LAGGING:04}");
    let shared = c.proxy.shared().clone();
    migration::replicating(&c, LAGGING).await?;
    let p = progress_until(&db, |p| p.gtid_distance == Some(0)).await?;
    assert!(p.copy_ms.is_some(), "{p:?}");
    // The applier stops; writes on the source pile up as GTID distance.
    c.g1.exec(&format!("STOP SLAVE 'myshard_{db}' SQL_THREAD"))
        .await?;
    const WRITES: u64 = 5;
    for i in 0..WRITES {
        c.g0.exec(&format!(
            "UPDATE {db}.t SET v = v + 1 ORDER BY id LIMIT 1 -- {i}"
        ))
        .await?;
    }
    let behind = progress_until(&db, |p| p.gtid_distance >= Some(WRITES)).await?;
    assert_eq!(behind.gtid_distance, Some(WRITES), "{behind:?}");
    let admin = c.proxy.admin_addr().context("admin endpoint")?.to_string();
    let t = Duration::from_secs(10);
    // Shown in /metrics only for a journaled migration; this one ran phase by phase, so
    // the progress itself is what the status document would carry.
    let metrics = request(&admin, "GET", "/metrics", None, t).await?.body;
    assert!(
        metrics.contains("# TYPE myshard_migration_gtid_distance gauge"),
        "{metrics}"
    );
    c.g1.exec(&format!("START SLAVE 'myshard_{db}' SQL_THREAD"))
        .await?;
    let caught_up = progress_until(&db, |p| p.gtid_distance == Some(0)).await?;
    assert_eq!(caught_up.lag_seconds, Some(0), "{caught_up:?}");
    shared
        .remove_replication(&db, "g1")
        .await
        .map_err(anyhow::Error::msg)?;
    let _ = std::fs::remove_dir_all(&state);
    Ok(())
}
