//! Which replica takes over: every candidate is asked (bounded, all at once) for its GTID
//! domain, what it has received (`Gtid_IO_Pos`) and applied (`gtid_slave_pos`) and whom it
//! replicates from; the most advanced one in the group's domain wins, received first, then
//! applied, ties going to the earlier candidate in configured order.

use std::time::Duration;

use crate::monitor::Login;

use super::gtid::GtidPos;
use super::server::{ReplicaStatus, Server};

/// A candidate that answered and replicates in GTID mode from the old write host.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// How to reach it.
    pub login: Login,
    /// Its `@@gtid_domain_id`.
    pub domain: u32,
    /// What it has received: `Gtid_IO_Pos` merged with what it applied.
    pub received: GtidPos,
    /// What it has applied: `@@gtid_slave_pos`.
    pub applied: GtidPos,
    /// Its replication status.
    pub status: ReplicaStatus,
}

/// The outcome of asking every candidate.
#[derive(Debug, Default)]
pub struct Survey {
    /// Candidates that may take over, in configured order.
    pub serving: Vec<Candidate>,
    /// Candidates left out (`host:port`, why), in configured order.
    pub left_out: Vec<(String, String)>,
}

/// Asks every candidate at once, each bounded by `timeout`.
pub async fn survey(candidates: &[Login], old: &str, timeout: Duration) -> Survey {
    let mut tasks = tokio::task::JoinSet::new();
    for (index, login) in candidates.iter().enumerate() {
        let login = login.clone();
        let old = old.to_owned();
        tasks.spawn(async move { (index, ask(login, &old, timeout).await) });
    }
    let mut answers: Vec<Option<Result<Candidate, (String, String)>>> =
        candidates.iter().map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        let Ok((index, answer)) = joined else {
            continue;
        };
        if let Some(slot) = answers.get_mut(index) {
            *slot = Some(answer);
        }
    }
    let mut survey = Survey::default();
    for (login, answer) in candidates.iter().zip(answers) {
        match answer {
            Some(Ok(candidate)) => survey.serving.push(candidate),
            Some(Err(left_out)) => survey.left_out.push(left_out),
            None => survey
                .left_out
                .push((login.addr.clone(), "its check did not finish".into())),
        }
    }
    survey
}

async fn ask(login: Login, old: &str, timeout: Duration) -> Result<Candidate, (String, String)> {
    let addr = login.addr.clone();
    let left_out = |why: String| (addr.clone(), why);
    let mut server = Server::connect(&login, timeout).await.map_err(left_out)?;
    let (domain, applied): (u32, Option<String>) = server
        .first("SELECT @@gtid_domain_id, @@gtid_slave_pos")
        .await
        .map_err(left_out)?;
    let status = server
        .replica_status()
        .await
        .map_err(left_out)?
        .ok_or_else(|| left_out("replicates from nothing".into()))?;
    if !status.follows(old) {
        return Err(left_out(format!(
            "replicates from {}:{}, not from {old}",
            status.source_host, status.source_port
        )));
    }
    if !status.uses_gtid() {
        return Err(left_out(format!(
            "replicates without GTID (Using_Gtid={})",
            status.using_gtid
        )));
    }
    let applied = GtidPos::parse(applied.as_deref().unwrap_or_default()).map_err(left_out)?;
    // With both threads stopped, the relay log is purged by the START SLAVE that applying
    // it would need: only what was applied counts.
    let received = if status.io_thread == "No" && status.sql_thread == "No" {
        applied.clone()
    } else {
        GtidPos::parse(&status.gtid_io_pos)
            .map_err(left_out)?
            .max(&applied)
    };
    Ok(Candidate {
        login,
        domain,
        received,
        applied,
        status,
    })
}

/// Picks the candidate to promote (an index into `serving`), or says why none may be.
///
/// `target`: the operator's choice; for a failover (`must_be_most_advanced`) it is refused
/// when another candidate received more, since promoting it would drop those transactions.
pub fn choose(
    serving: &[Candidate],
    target: Option<&str>,
    must_be_most_advanced: bool,
) -> Result<usize, String> {
    let Some(first) = serving.first() else {
        return Err("no candidate answers and replicates in GTID mode from the write host".into());
    };
    let domain = first.domain;
    if let Some(other) = serving.iter().find(|c| c.domain != domain) {
        return Err(format!(
            "candidates disagree on the group's gtid_domain_id: {} has {domain}, {} has {}",
            first.login.addr, other.login.addr, other.domain
        ));
    }
    // Two candidates at the same sequence number through different servers hold two
    // histories: neither may be preferred without losing transactions of the other.
    for (i, a) in serving.iter().enumerate() {
        for b in &serving[i + 1..] {
            let (Some(ga), Some(gb)) = (a.received.get(domain), b.received.get(domain)) else {
                continue;
            };
            if ga.seq == gb.seq && ga.server != gb.server {
                return Err(format!(
                    "positions cannot be compared in domain {domain}: {} received {ga}, {} \
                     received {gb} (their histories split)",
                    a.login.addr, b.login.addr
                ));
            }
        }
    }
    let key = |c: &Candidate| (c.received.seq(domain), c.applied.seq(domain));
    let mut best = 0;
    for (index, candidate) in serving.iter().enumerate() {
        if key(candidate) > key(&serving[best]) {
            best = index;
        }
    }
    let Some(target) = target else {
        return Ok(best);
    };
    let Some(chosen) = serving.iter().position(|c| c.login.addr == target) else {
        return Err(format!(
            "{target} is not a candidate that answers and replicates in GTID mode from the \
             write host"
        ));
    };
    let (have, most) = (
        serving[chosen].received.seq(domain),
        serving[best].received.seq(domain),
    );
    if must_be_most_advanced && have < most {
        return Err(format!(
            "{target} received up to seq_no {have} in domain {domain}, {} up to {most}: \
             promoting it would lose transactions",
            serving[best].login.addr
        ));
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(addr: &str, received: &str, applied: &str) -> Result<Candidate, String> {
        Ok(Candidate {
            login: Login {
                addr: addr.into(),
                user: "u".into(),
                password: String::new(),
                gtid: true,
            },
            domain: 7,
            received: GtidPos::parse(received)?,
            applied: GtidPos::parse(applied)?,
            status: ReplicaStatus::default(),
        })
    }

    #[test]
    fn received_first_then_applied_then_order() -> Result<(), String> {
        let serving = vec![
            candidate("a:1", "7-1-10", "7-1-10")?,
            candidate("b:1", "7-1-12", "7-1-9")?,
            candidate("c:1", "7-1-12", "7-1-11")?,
            candidate("d:1", "7-1-12,0-5-99", "7-1-11")?,
        ];
        assert_eq!(choose(&serving, None, true)?, 2);
        Ok(())
    }

    #[test]
    fn split_histories_are_refused() -> Result<(), String> {
        let serving = vec![
            candidate("a:1", "7-1-10", "7-1-10")?,
            candidate("b:1", "7-2-10", "7-2-10")?,
        ];
        let err = choose(&serving, None, true).err().unwrap_or_default();
        assert!(err.contains("cannot be compared"), "{err}");
        Ok(())
    }

    #[test]
    fn a_failover_target_must_be_most_advanced_a_switchover_target_need_not() -> Result<(), String>
    {
        let serving = vec![
            candidate("a:1", "7-1-10", "7-1-10")?,
            candidate("b:1", "7-1-12", "7-1-12")?,
        ];
        let err = choose(&serving, Some("a:1"), true)
            .err()
            .unwrap_or_default();
        assert!(err.contains("would lose transactions"), "{err}");
        assert_eq!(choose(&serving, Some("a:1"), false)?, 0);
        assert!(choose(&serving, Some("z:1"), false).is_err());
        assert!(choose(&[], None, true).is_err());
        Ok(())
    }
}
