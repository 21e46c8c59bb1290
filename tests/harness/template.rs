//! The initialised MariaDB data directory every test server starts from.
//!
//! `mariadb-install-db` takes most of a second, while copying its result takes a few
//! milliseconds, so the system tables are created once and copied for each server. The
//! template lives in Cargo's per-target scratch directory (`target/tmp`) under a name derived
//! from the `mariadbd` version and the options used to create it, so every test process (nextest
//! runs one per test) shares it, and upgrading MariaDB or changing the options below makes a new
//! one. A template is built in a private staging directory and renamed into place in one step,
//! so concurrent processes never see a half-written one.
//!
//! The template already contains the accounts tests rely on: `root` without a password (from
//! `localhost`, `127.0.0.1` and `::1`) and `myshard`@`%` with password `myshard`, all privileges
//! and the grant option, using `mysql_native_password`.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use anyhow::{Context, Result, bail};

/// Bump when the way the template is built changes in a way the hashed inputs do not show.
const TEMPLATE_FORMAT: u32 = 1;

/// InnoDB redo log size; the template and every server started from it use the same value.
pub(crate) const INNODB_LOG_FILE_SIZE: &str = "8M";

/// Statements run at the end of `mariadb-install-db` (the server runs in bootstrap mode there,
/// so privileges must be flushed before account statements work).
const ACCOUNTS_SQL: &str = "\
FLUSH PRIVILEGES;
DELETE FROM mysql.global_priv WHERE Host NOT IN ('localhost', '127.0.0.1', '::1');
DELETE FROM mysql.proxies_priv WHERE Host NOT IN ('localhost', '127.0.0.1', '::1');
CREATE USER 'myshard'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('myshard');
GRANT ALL PRIVILEGES ON *.* TO 'myshard'@'%' WITH GRANT OPTION;
FLUSH PRIVILEGES;
";

/// What every server start needs to know, found once per process.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    /// The initialised data directory to copy (never started itself).
    pub(crate) datadir: PathBuf,
    /// The `mariadbd` binary.
    pub(crate) mariadbd: PathBuf,
    /// Whether this process runs as root (then `mariadbd` needs `--user=root`).
    pub(crate) as_root: bool,
}

/// The template of this process, once found or built.
static TEMPLATE: Mutex<Option<Template>> = Mutex::new(None);

/// Returns the template, building its data directory if no process has done so yet.
///
/// Blocking: call it from `spawn_blocking` in async code.
pub(crate) fn template() -> Result<Template> {
    let mut cached = TEMPLATE
        .lock()
        .map_err(|_| anyhow::anyhow!("the MariaDB template lock is poisoned"))?;
    if let Some(template) = cached.as_ref() {
        return Ok(template.clone());
    }
    let template = find_or_build()?;
    *cached = Some(template.clone());
    Ok(template)
}

fn find_or_build() -> Result<Template> {
    let mariadbd = find_program("mariadbd")?;
    let install_db = find_program("mariadb-install-db")?;
    let version = Command::new(&mariadbd)
        .arg("--version")
        .output()
        .with_context(|| format!("running {} --version", mariadbd.display()))?;
    if !version.status.success() {
        bail!(
            "{} --version failed: {}",
            mariadbd.display(),
            String::from_utf8_lossy(&version.stderr)
        );
    }

    let as_root = running_as_root()?;
    let install_args = install_args(as_root);
    let mut hasher = DefaultHasher::new();
    TEMPLATE_FORMAT.hash(&mut hasher);
    version.stdout.hash(&mut hasher);
    install_args.hash(&mut hasher);
    ACCOUNTS_SQL.hash(&mut hasher);
    let cache_root = cache_root();
    let final_dir = cache_root.join(format!("mariadb-template-{:016x}", hasher.finish()));
    let template = |datadir: PathBuf| Template {
        datadir,
        mariadbd: mariadbd.clone(),
        as_root,
    };
    if final_dir.join("mysql").is_dir() {
        return Ok(template(final_dir));
    }

    std::fs::create_dir_all(&cache_root)
        .with_context(|| format!("creating {}", cache_root.display()))?;
    let staging = tempfile::Builder::new()
        .prefix("mariadb-template-staging-")
        .tempdir_in(&cache_root)
        .with_context(|| format!("creating a staging directory in {}", cache_root.display()))?;
    let datadir = staging.path().join("data");
    let extra_file = staging.path().join("accounts.sql");
    std::fs::write(&extra_file, ACCOUNTS_SQL)
        .with_context(|| format!("writing {}", extra_file.display()))?;

    let output = Command::new(&install_db)
        .arg("--no-defaults")
        .arg(format!("--datadir={}", datadir.display()))
        .arg(format!("--extra-file={}", extra_file.display()))
        .args(&install_args)
        .output()
        .with_context(|| format!("running {}", install_db.display()))?;
    if !output.status.success() {
        bail!(
            "{} failed ({}):\n{}\n{}",
            install_db.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    match std::fs::rename(&datadir, &final_dir) {
        Ok(()) => Ok(template(final_dir)),
        // Another process finished first; its template is as good as ours.
        Err(_) if final_dir.join("mysql").is_dir() => Ok(template(final_dir)),
        Err(err) => Err(err)
            .with_context(|| format!("moving {} to {}", datadir.display(), final_dir.display())),
    }
}

/// Options for `mariadb-install-db` besides the paths.
fn install_args(as_root: bool) -> Vec<String> {
    let mut args = vec![
        "--skip-test-db".to_owned(),
        "--auth-root-authentication-method=normal".to_owned(),
        "--skip-name-resolve".to_owned(),
        format!("--innodb-log-file-size={INNODB_LOG_FILE_SIZE}"),
        "--innodb-buffer-pool-size=16M".to_owned(),
    ];
    if as_root {
        args.push("--user=root".to_owned());
    }
    args
}

/// Where templates are kept: Cargo's scratch directory for integration tests when known.
fn cache_root() -> PathBuf {
    match option_env!("CARGO_TARGET_TMPDIR") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::temp_dir().join("myshard-test-cache"),
    }
}

/// Copies a data directory tree (regular files and directories only).
pub(crate) fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    let entries = std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", from.display()))?;
        let source = entry.path();
        let target = to.join(entry.file_name());
        let kind = entry
            .file_type()
            .with_context(|| format!("inspecting {}", source.display()))?;
        if kind.is_dir() {
            copy_tree(&source, &target)?;
        } else {
            std::fs::copy(&source, &target)
                .with_context(|| format!("copying {} to {}", source.display(), target.display()))?;
        }
    }
    Ok(())
}

/// Finds a MariaDB program on `PATH` or in the system directories Debian installs it to
/// (`/usr/sbin` is not on an ordinary user's `PATH`).
fn find_program(name: &str) -> Result<PathBuf> {
    let path_dirs = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    let fallback = ["/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"];
    path_dirs
        .into_iter()
        .chain(fallback.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .with_context(|| {
            format!(
                "`{name}` not found on PATH or in /usr/sbin; install the mariadb-server package"
            )
        })
}

/// Whether this process runs as root, decided from the owner of a freshly created file (the
/// effective user).
fn running_as_root() -> Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let probe = tempfile::NamedTempFile::new().context("creating a probe file")?;
    let meta = probe.as_file().metadata().context("reading a probe file")?;
    Ok(meta.uid() == 0)
}
