//! [`WritableCandidate`] (`failover.promotion: false`): the switch goes to the first
//! candidate, in configured order, that answers and is already writable (`read_only=OFF`);
//! nothing changes on the servers except fencing the old write host (`read_only=ON`,
//! bounded). Replication, if any, is the operator's business.

use std::time::Duration;

use crate::switch::{Promoter, Promotion, PromotionFuture, PromotionRequest};

use super::fence::fence;
use super::server::Server;

/// Switches to the next writable candidate without promoting anything.
#[derive(Debug, Clone)]
pub struct WritableCandidate {
    /// Bound on connecting to each candidate and asking it `@@read_only`.
    pub step_timeout: Duration,
}

impl Default for WritableCandidate {
    fn default() -> Self {
        WritableCandidate {
            step_timeout: Duration::from_secs(2),
        }
    }
}

impl Promoter for WritableCandidate {
    fn promote<'a>(&'a self, request: &'a PromotionRequest) -> PromotionFuture<'a> {
        Box::pin(self.run(request))
    }
}

impl WritableCandidate {
    async fn run(&self, request: &PromotionRequest) -> Result<Promotion, String> {
        let mut skipped = Vec::new();
        let mut chosen = None;
        for login in &request.candidates {
            if request.target.as_ref().is_some_and(|t| *t != login.addr) {
                continue;
            }
            match self.writable_position(login).await {
                Ok(Some(position)) => {
                    chosen = Some((login, position));
                    break;
                }
                Ok(None) => skipped.push(format!("{}: read_only=ON", login.addr)),
                Err(why) => skipped.push(why),
            }
        }
        let Some((login, gtid_position)) = chosen else {
            let looked_at = if skipped.is_empty() {
                match &request.target {
                    Some(target) => format!("{target} is not a candidate"),
                    None => "the group has no other candidate".to_owned(),
                }
            } else {
                skipped.join("; ")
            };
            return Err(format!(
                "group {}: no writable candidate ({looked_at})",
                request.group
            ));
        };
        let (fence, old_gtid_position) = fence(&request.old, request.fence_timeout).await;
        Ok(Promotion {
            new_write_host: login.addr.clone(),
            gtid_position,
            old_gtid_position,
            repointed: Vec::new(),
            not_repointed: Vec::new(),
            fence,
        })
    }

    /// `Ok(Some(position))` when writable (position: `@@gtid_current_pos` on GTID hosts,
    /// else none inside), `Ok(None)` when read-only.
    async fn writable_position(
        &self,
        login: &crate::monitor::Login,
    ) -> Result<Option<Option<String>>, String> {
        let mut server = Server::connect(login, self.step_timeout).await?;
        let read_only: u8 = server.first("SELECT @@read_only").await?;
        if read_only != 0 {
            return Ok(None);
        }
        if !login.gtid {
            return Ok(Some(None));
        }
        Ok(Some(Some(server.var("gtid_current_pos").await?)))
    }
}
