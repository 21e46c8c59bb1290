//! The scale-out planner end to end: four shards on g0 and an empty g1 plan as two moves
//! (`GET /rebalance/plan`, `myshard rebalance --plan`); a run stops at the first failed
//! move with its reason; `myshard rebalance --execute` runs the moves one at a time
//! through the proxy, each cut over and verified, ending 2/2 with every row served.

mod harness;

use anyhow::{Context, Result};
use harness::proxy::{ShardedCluster, app_conn};
use myshard_proxy::admin_http::client::request;
use myshard_proxy::migration::{Phase, journal};
use mysql_async::prelude::Queryable;
use serde_json::Value;
use std::time::{Duration, Instant};

const TABLES: &[&str] = &["{name: t, shard_key: id}"];
const TOKEN: &str = "rebalance-token";
const ROWS: i64 = 200;

/// Runs `myshard rebalance <flag>` against the proxy's endpoint at `admin`.
async fn cli(admin: &str, flag: &'static str) -> Result<(bool, String)> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("myshard.yaml");
    std::fs::write(
        &file,
        format!(
            "listen: 127.0.0.1:0\nadmin_http: {{listen: '{admin}', token: {TOKEN}}}\nusers: []\n\
             groups:\n  - {{name: g0, user: u, write_hosts: ['127.0.0.1:1']}}\nschemas: []\n"
        ),
    )?;
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_myshard"))
            .args(["rebalance", flag, "--config"])
            .arg(&file)
            .output()
    })
    .await??;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.success(), text))
}

async fn get(admin: &str, path: &str) -> Result<Value> {
    let a = request(admin, "GET", path, None, Duration::from_secs(10)).await?;
    anyhow::ensure!(a.status == 200, "{path}: {a:?}");
    Ok(serde_json::from_str(&a.body)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_shards_on_one_group_rebalance_two_and_two_over_an_added_group() -> Result<()> {
    let state = std::env::temp_dir().join(format!("myshard-rebalance-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    let dir = state.display().to_string();
    let c = ShardedCluster::start(4, TABLES, |cfg| {
        cfg.state_dir = Some(dir);
        cfg.admin_http = Some(myshard_config::AdminHttp {
            listen: "127.0.0.1:0".into(),
            token: Some(TOKEN.into()),
        });
        // Every shard on g0; g1 (holding only the unsharded `crm`) was just added.
        for s in cfg.schemas.iter_mut().filter(|s| s.name == "shop") {
            s.placement = Some(vec![myshard_config::Placement {
                group: "g0".into(),
                shards: myshard_config::ShardSpec::Text("0-3".into()),
            }]);
        }
    })
    .await?;
    let mut conn = app_conn(&c.proxy, Some("shop")).await?;
    conn.query_drop("CREATE TABLE t (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)")
        .await?;
    let values: Vec<String> = (1..=ROWS).map(|i| format!("({i}, {i})")).collect();
    conn.query_drop(format!("INSERT INTO t VALUES {}", values.join(", ")))
        .await?;
    let admin = c.proxy.admin_addr().context("admin endpoint")?.to_string();

    let plan = get(&admin, "/rebalance/plan").await?;
    let moves: Vec<(u64, &str, &str)> = plan["moves"]
        .as_array()
        .context("moves")?
        .iter()
        .map(|m| {
            (
                m["shard"].as_u64().unwrap_or(99),
                m["from"].as_str().unwrap_or(""),
                m["to"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(moves, vec![(2, "g0", "g1"), (3, "g0", "g1")], "{plan}");
    let (ok, text) = cli(&admin, "--plan").await?;
    assert!(ok, "{text}");
    assert!(
        text.contains("shop 2 g0 → g1") && text.contains("shop 3 g0 → g1"),
        "{text}"
    );
    assert!(text.contains("g1: 0 → 2"), "{text}");

    // Refused without the token; with it, a run whose first move fails (both groups write
    // GTID domain 0) stops there with the reason, the second move not tried.
    let t = Duration::from_secs(10);
    let refused = request(&admin, "POST", "/rebalance", None, t).await?;
    assert_eq!(refused.status, 401, "{refused:?}");
    let started = request(&admin, "POST", "/rebalance", Some(TOKEN), t).await?;
    assert_eq!(started.status, 202, "{started:?}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let run = loop {
        let run = get(&admin, "/rebalance").await?;
        if run["finished"] == true || Instant::now() > deadline {
            break run;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(run["finished"], true, "{run}");
    let error = run["error"].as_str().context("the run failed")?;
    assert!(
        error.contains("shard 2 of 'shop'") && error.contains("gtid_domain_id"),
        "{run}"
    );
    assert_eq!(run["done"], serde_json::json!([]), "{run}");
    let config = c.proxy.shared().config();
    let journal = journal::migrations(&config).map_err(anyhow::Error::msg)?;
    assert_eq!(
        journal.len(),
        1,
        "the second move was not tried: {journal:?}"
    );
    assert_eq!(journal[0].phase, Phase::Aborted);

    // Fixed, the CLI runs the plan and follows it to the end.
    c.g1.exec("SET GLOBAL gtid_domain_id = 1").await?;
    let (ok, text) = cli(&admin, "--execute").await?;
    assert!(ok, "{text}");
    assert!(
        text.contains("done: shop 2 g0 → g1") && text.contains("done: shop 3 g0 → g1"),
        "{text}"
    );
    let table = c.proxy.shared().table();
    let placed: Vec<Option<&str>> = (0..4)
        .map(|shard| table.topology.group_of("shop", shard))
        .collect();
    assert_eq!(placed, vec![Some("g0"), Some("g0"), Some("g1"), Some("g1")]);
    let journal = journal::migrations(&config).map_err(anyhow::Error::msg)?;
    let verified: Vec<u32> = journal
        .iter()
        .filter(|m| m.phase == Phase::Verified || m.verified_before_cut_over)
        .map(|m| m.shard)
        .collect();
    assert_eq!(verified, vec![2, 3], "{journal:?}");
    let again = get(&admin, "/rebalance/plan").await?;
    assert_eq!(again["moves"], serde_json::json!([]), "{again}");
    assert_eq!(again["before"]["g1"], 2, "{again}");
    // Every row served, the moved shards from g1.
    for shard in [2, 3] {
        let db = format!("shop_{shard:04}");
        let src: Vec<i64> = c.g0.query(&format!("SELECT COUNT(*) FROM {db}.t")).await?;
        let dst: Vec<i64> = c.g1.query(&format!("SELECT COUNT(*) FROM {db}.t")).await?;
        assert_eq!(src, dst, "{db} copied whole");
        c.g1.exec(&format!("UPDATE {db}.t SET v = -v")).await?;
    }
    let (n, sum): (i64, i64) = conn
        .query_first("SELECT COUNT(*), SUM(ABS(v)) FROM t")
        .await?
        .context("row")?;
    assert_eq!((n, sum), (ROWS, (1..=ROWS).sum::<i64>()));
    let on_g1: Option<i64> = conn
        .query_first("SELECT COUNT(*) FROM t WHERE v < 0")
        .await?;
    let mut moved = 0;
    for shard in [2, 3] {
        let n: Vec<i64> =
            c.g1.query(&format!("SELECT COUNT(*) FROM shop_{shard:04}.t"))
                .await?;
        moved += n.first().copied().unwrap_or(0);
    }
    assert_eq!(on_g1, Some(moved), "the moved shards are read from g1");
    let _ = std::fs::remove_dir_all(&state);
    Ok(())
}
