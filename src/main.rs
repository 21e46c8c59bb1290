//! The `myshard` binary: `myshard --config FILE` runs the proxy;
//! `myshard check --config FILE` validates a configuration and lists every error;
//! `myshard init --config FILE` creates every schema's physical databases on the backends;
//! `myshard status --config FILE` prints the running proxy's hosts, states and pools;
//! `myshard switch --group G [--to HOST]` switches a group's write host (planned);
//! `myshard rejoin --group G --host HOST` rejoins a fenced former write host.
//! `myshard migrate …` starts, lists, aborts, verifies and cleans up shard migrations.
//! `myshard rebalance --plan|--execute` plans / runs the moves evening out the shards.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

mod init;
mod migrate;
mod rebalance;
mod status;
mod switch;

#[derive(Parser, Debug)]
#[command(name = "myshard", version, about = "A MySQL-compatible sharding proxy")]
struct Cli {
    /// Configuration file (YAML).
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Validate the configuration and exit (non-zero if it has errors).
    Check,
    /// Create every physical database of every schema (one per shard for sharded schemas)
    /// on its group's active write host; databases that exist are left alone.
    Init,
    /// Print the running proxy's groups, hosts (role, state, pool use), client sessions and
    /// routing table epoch, read from its status endpoint (`admin_http`).
    Status,
    /// Switch a group's write host now (planned switchover through the status endpoint):
    /// writes are held, running statements finish, the new host takes over.
    Switch {
        /// The group.
        #[arg(long)]
        group: String,
        /// The host to switch to (default: the group's promoter chooses).
        #[arg(long)]
        to: Option<String>,
    },
    /// Rejoin a fenced former write host as a replica of the group's write host.
    Rejoin {
        /// The group.
        #[arg(long)]
        group: String,
        /// The fenced host.
        #[arg(long)]
        host: String,
    },
    /// Shard migrations through the status endpoint: `--schema S --shard N --to G` starts
    /// one; `status` lists them; `abort|verify|cleanup --id ID` acts on one.
    Migrate {
        /// `status`, `abort`, `verify` or `cleanup` (none: start a migration).
        verb: Option<String>,
        /// Logical schema of the shard to move.
        #[arg(long)]
        schema: Option<String>,
        /// Shard number.
        #[arg(long)]
        shard: Option<u32>,
        /// Target group.
        #[arg(long)]
        to: Option<String>,
        /// Migration id (see `myshard migrate status`).
        #[arg(long)]
        id: Option<u64>,
    },
    /// The fewest shard moves evening out every sharded schema over the configured groups
    /// (through the status endpoint): `--plan` prints them, `--execute` runs them one at a
    /// time (migrate, cut over, verify; stops at the first failure).
    Rebalance {
        /// Print the plan only.
        #[arg(long, conflicts_with = "execute", required_unless_present = "execute")]
        plan: bool,
        /// Run the plan.
        #[arg(long)]
        execute: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let Some(path) = cli.config else {
        eprintln!("myshard: --config FILE is required");
        return ExitCode::from(2);
    };
    let config = match myshard_config::load(&path) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(1);
        }
    };
    match cli.command {
        Some(Command::Check) => {
            println!("{}: OK", path.display());
            return ExitCode::SUCCESS;
        }
        Some(Command::Init) => return init::run(&config),
        Some(Command::Status) => return status::run(&config),
        Some(Command::Switch { group, to }) => {
            return switch::switch(&config, &group, to.as_deref());
        }
        Some(Command::Rejoin { group, host }) => return switch::rejoin(&config, &group, &host),
        Some(Command::Migrate {
            verb,
            schema,
            shard,
            to,
            id,
        }) => {
            return match migrate::action(verb.as_deref(), schema, shard, to, id) {
                Ok(action) => migrate::run(&config, &action),
                Err(e) => {
                    eprintln!("myshard migrate: {e}");
                    ExitCode::from(2)
                }
            };
        }
        Some(Command::Rebalance { execute, .. }) => return rebalance::run(&config, execute),
        None => {}
    }
    match run(config, path) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("myshard: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(config: myshard_config::Config, path: PathBuf) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let listen = config.listen.clone();
        let proxy = myshard_proxy::start(config)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        tracing::info!(addr = %proxy.addr(), "myshard is accepting MySQL connections");
        proxy.set_config_path(path.clone());
        if let Some(admin) = proxy.admin_addr() {
            tracing::info!(addr = %admin, "status endpoint listening (/status, /metrics, /health, /reload)");
        }
        if let Some(socket) = proxy.socket() {
            tracing::info!(socket = %socket.display(), "myshard is accepting MySQL connections on a Unix socket");
        }
        tokio::spawn(reload_on_hangup(proxy.shared().clone(), path));
        shutdown_signal().await;
        tracing::info!("shutting down");
        proxy.stop();
        Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = ctrl_c.await;
}

/// Reloads the configuration file on every SIGHUP; a file that is invalid or changes what a
/// reload may not change leaves the running configuration in force (the errors are logged).
async fn reload_on_hangup(shared: std::sync::Arc<myshard_proxy::Shared>, path: PathBuf) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangup) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP: reload by signal is off");
            return;
        };
        while hangup.recv().await.is_some() {
            tracing::info!(file = %path.display(), "SIGHUP: reloading the configuration");
            // Reading and validating the file is blocking work, done off the async workers.
            let (s, p) = (shared.clone(), path.clone());
            match tokio::task::spawn_blocking(move || s.reload_from(&p)).await {
                Ok(Ok(report)) => tracing::info!("reload done: {report}"),
                Ok(Err(e)) => tracing::error!("{e}"),
                Err(e) => tracing::error!("reload failed: {e}"),
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (shared, path);
}
