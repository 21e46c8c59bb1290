//! The end of a journaled migration: `verify` compares the moved database between the
//! source and the target (after the cut-over, the quiet-time check) and records `Verified`
//! when they are equal; `cleanup` drops the source copy, refused unless the migration was
//! verified (by that, or by its verify before the cut-over).

use super::copy::ident;
use super::cutover::write_login;
use super::journal::{self, MigrationRecord, Phase};
use crate::server::Shared;
use myshard_failover::promotion::Server;
use std::time::Duration;

/// Bound of connecting and of the drop.
const STEP: Duration = Duration::from_secs(30);

impl Shared {
    fn journaled(&self, id: u64) -> Result<MigrationRecord, String> {
        journal::migrations(&self.config())?
            .into_iter()
            .find(|m| m.id == id)
            .ok_or_else(|| format!("no migration {id}"))
    }

    fn database_of(&self, m: &MigrationRecord) -> Result<String, String> {
        self.table()
            .topology
            .physical_database(&m.schema, m.shard)
            .map(str::to_string)
            .ok_or_else(|| format!("schema '{}' has no shard {}", m.schema, m.shard))
    }

    /// Verifies migration `id` (cut over): `Verified` when source and target are equal,
    /// else it stays cut over with the differences as its error (and this call fails).
    pub async fn verify_journaled(&self, id: u64) -> Result<MigrationRecord, String> {
        let m = self.journaled(id)?;
        if !matches!(m.phase, Phase::CutOver | Phase::Verified) {
            return Err(format!(
                "migration {id} is in phase {:?}: only a migration that cut over can be verified",
                m.phase
            ));
        }
        let database = self.database_of(&m)?;
        let report = self.verify(&database, &m.from, &m.to).await?;
        if report.differences.is_empty() {
            return journal::record(&self.config(), id, Phase::Verified, None);
        }
        let error = format!(
            "verify found {} difference(s): {}",
            report.differences.len(),
            report.differences.join("; ")
        );
        journal::record(&self.config(), id, Phase::CutOver, Some(error.clone()))?;
        Err(format!("migration {id}: {error}"))
    }

    /// Drops the source copy of migration `id`; only after a successful verify.
    pub async fn cleanup_journaled(&self, id: u64) -> Result<MigrationRecord, String> {
        let m = self.journaled(id)?;
        let verified =
            m.phase == Phase::Verified || (m.phase == Phase::CutOver && m.verified_before_cut_over);
        if !verified {
            return Err(format!(
                "migration {id} is in phase {:?}: cleanup drops the source copy only after a \
                 successful verify",
                m.phase
            ));
        }
        let database = self.database_of(&m)?;
        let mut source = Server::connect(&write_login(self, &m.from)?, STEP).await?;
        source
            .exec(&format!("DROP DATABASE IF EXISTS {}", ident(&database)))
            .await?;
        journal::record(&self.config(), id, Phase::CleanedUp, None)
    }
}
