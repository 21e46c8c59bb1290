//! The CI-sized run of `bench/read_replicas.sh`: `--smoke` (three private MariaDB servers in
//! GTID replication, two-second sysbench oltp_read_only runs through this build's `myshard`
//! binary under policy `primary` and `replicas`). It checks that the benchmark works end to
//! end — replication set up, both policies served without sysbench errors, the reads landing
//! where each policy says (the script's own checks, from the servers' `Com_select`) — not
//! its numbers, which a debug build on a shared machine makes meaningless.

use anyhow::{Result, ensure};
use std::process::Command;

#[test]
fn read_replicas_benchmark_runs_in_smoke_mode() -> Result<()> {
    let root = env!("CARGO_MANIFEST_DIR");
    let path = std::env::var("PATH").unwrap_or_default();
    let out = Command::new("bash")
        .arg(format!("{root}/bench/read_replicas.sh"))
        .args(["--smoke", "--binary", env!("CARGO_BIN_EXE_myshard")])
        .env("PATH", format!("{path}:/usr/sbin:/usr/local/sbin"))
        .current_dir(root)
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.success(),
        "bench/read_replicas.sh --smoke failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    // The report's one row: both policies measured, the replicas taking the reads.
    let row = stdout
        .lines()
        .find(|l| l.starts_with("| auto | 4 |"))
        .unwrap_or_default();
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    ensure!(cells.len() >= 11, "no result row in:\n{stdout}");
    let qps = |cell: &str| cell.parse::<f64>().unwrap_or(0.0);
    ensure!(
        qps(cells[3]) > 0.0 && qps(cells[4]) > 0.0,
        "both policies answered: {row}"
    );
    ensure!(cells[10] == "none", "no problem flagged: {row}");
    Ok(())
}
