//! What a generated query reads: one sharded table (aliased or not), the global table
//! alone, a co-located join of two sharded tables on their shard keys (inner or LEFT), or a
//! sharded table joined with the global table; with the columns it offers, the columns that
//! identify a row, and a shard key to put IN lists on.

use super::data::{ACCOUNTS, COUNTRIES, Col, Dom, EVENTS, ORDERS, Table, Ty, USERS};
use crate::harness::differential::Rng;
use myshard_router::hash::Collation;

/// A column as the query names it.
#[derive(Clone)]
pub struct Ref {
    pub sql: String,
    pub col: &'static Col,
    /// The shard key of its table.
    pub shard_key: bool,
}

impl Ref {
    pub fn collation(&self) -> Option<Collation> {
        match self.col.ty {
            Ty::Str(c) => Some(c),
            _ => None,
        }
    }

    pub fn numeric(&self) -> bool {
        matches!(self.col.ty, Ty::Int | Ty::Dec | Ty::Double)
    }

    /// Few distinct values: a sensible group key or DISTINCT column.
    pub fn groupable(&self) -> bool {
        matches!(
            self.col.dom,
            Dom::Ints(..) | Dom::Strs(_) | Dom::Codes | Dom::Dates(..) | Dom::UserRef
        )
    }
}

/// What the query reads: FROM, its columns, the columns that identify a row.
pub struct Source {
    pub from: String,
    pub cols: Vec<Ref>,
    /// Order by these last and the order is complete.
    pub unique: Vec<String>,
    /// Prefix of the construct name.
    pub prefix: &'static str,
    /// A shard key to put IN lists on.
    pub key: Option<Ref>,
    /// A NOT NULL column, for a condition no row meets.
    pub never: String,
}

fn refs(t: &'static Table, p: &str) -> Vec<Ref> {
    t.cols
        .iter()
        .map(|col| Ref {
            sql: format!("{p}{}", col.name),
            col,
            shard_key: t.key == Some(col.name),
        })
        .collect()
}

fn column(t: &'static Table, p: &str, name: &str) -> Option<Ref> {
    refs(t, p).into_iter().find(|r| r.col.name == name)
}

/// Draws a source: half of the time one sharded table, 5 % the global table alone, 25 % a
/// co-located join, 20 % a join with the global table.
pub fn pick(rng: &mut Rng) -> Source {
    let r = rng.below(100);
    if r < 50 {
        let t = match rng.below(50) {
            0..=14 => &USERS,
            15..=29 => &ORDERS,
            30..=41 => &EVENTS,
            _ => &ACCOUNTS,
        };
        let aliased = rng.chance(50);
        let p = if aliased {
            format!("{}.", t.alias)
        } else {
            String::new()
        };
        let from = if aliased {
            format!("{} {}", t.name, t.alias)
        } else {
            t.name.to_string()
        };
        return Source {
            from,
            cols: refs(t, &p),
            unique: vec![format!("{p}{}", t.unique)],
            prefix: "",
            key: t.key.and_then(|k| column(t, &p, k)),
            never: format!("{p}{}", t.unique),
        };
    }
    if r < 55 {
        return Source {
            from: "countries c".into(),
            cols: refs(&COUNTRIES, "c."),
            unique: vec!["c.code".into()],
            prefix: "global-table+",
            key: None,
            never: "c.code".into(),
        };
    }
    // (tables with their aliases, FROM, unique columns, key column as table index + name)
    type Join = (
        &'static [&'static Table],
        &'static str,
        &'static [&'static str],
        (usize, &'static str),
    );
    const COLOCATED: &[Join] = &[
        (
            &[&USERS, &ORDERS],
            "users u JOIN orders o ON o.user_id = u.id",
            &["o.id"],
            (1, "user_id"),
        ),
        (
            &[&USERS, &ORDERS],
            "users u LEFT JOIN orders o ON o.user_id = u.id",
            &["u.id", "o.id"],
            (0, "id"),
        ),
        (
            &[&USERS, &EVENTS],
            "users u JOIN events e ON e.user_id = u.id",
            &["e.id"],
            (0, "id"),
        ),
        (
            &[&ORDERS, &EVENTS],
            "orders o JOIN events e ON e.user_id = o.user_id",
            &["o.id", "e.id"],
            (1, "user_id"),
        ),
    ];
    const GLOBAL: &[Join] = &[
        (
            &[&USERS, &COUNTRIES],
            "users u JOIN countries c ON c.code = u.country",
            &["u.id"],
            (0, "id"),
        ),
        (
            &[&USERS, &COUNTRIES],
            "users u LEFT JOIN countries c ON c.code = u.country",
            &["u.id"],
            (0, "id"),
        ),
        (
            &[&ACCOUNTS, &COUNTRIES],
            "accounts a JOIN countries c ON c.code = a.country",
            &["a.email"],
            (0, "email"),
        ),
        (
            &[&ORDERS, &USERS, &COUNTRIES],
            "orders o JOIN users u ON u.id = o.user_id JOIN countries c ON c.code = u.country",
            &["o.id"],
            (0, "user_id"),
        ),
    ];
    let (joins, prefix) = if r < 80 {
        (COLOCATED, "join+")
    } else {
        (GLOBAL, "global-join+")
    };
    let (tables, from, unique, (kt, kc)) = *rng.pick(joins);
    let p = |t: &Table| format!("{}.", t.alias);
    Source {
        from: from.into(),
        cols: tables.iter().flat_map(|t| refs(t, &p(t))).collect(),
        unique: unique.iter().map(|u| u.to_string()).collect(),
        prefix,
        key: column(tables[kt], &p(tables[kt]), kc),
        never: unique[0].into(),
    }
}
