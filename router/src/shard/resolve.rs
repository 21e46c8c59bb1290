//! Turning a planned route into concrete targets once parameter values are known: the
//! shard numbers and the SQL each receives.

use super::keys::{Literal, Operand, shards};
use super::plan::{RouteError, ShardRoute, Targets, Unconstrained};
use crate::hash::stored_decimal;
use myshard_config::{KeyType, SchemaTopology, TableRule, Topology};

/// A parameter value bound at execute time, as the router sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Bound {
    /// SQL NULL.
    Null,
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    UInt(u64),
    /// A floating-point number.
    Double(f64),
    /// An exact decimal (`DECIMAL` / `NEWDECIMAL` parameters), as the client sent it.
    Decimal(String),
    /// Text or bytes: strings, blobs and temporal values in their text form.
    Text(Vec<u8>),
}

/// One key value to hash: a literal of the statement or a bound parameter.
#[derive(Debug, Clone, Copy)]
pub enum KeyInput<'a> {
    /// From the statement text.
    Literal(&'a Literal),
    /// From COM_STMT_EXECUTE.
    Bound(&'a Bound),
}

/// Maps a key value to its shard under a table's rule: `Ok(None)` when the value can match
/// rows on any shard (or none), an error when it cannot be interpreted.
pub type KeyHasher<'h> =
    dyn Fn(&TableRule, u32, KeyInput<'_>) -> Result<Option<u32>, RouteError> + 'h;

/// One shard a statement goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Shard number.
    pub shard: u32,
    /// Physical database of the shard.
    pub database: String,
    /// Group holding the shard.
    pub group: String,
    /// Statement text for the shard.
    pub sql: String,
}

impl ShardRoute {
    /// The targets of this route given the bound parameters (empty for text statements).
    /// `literal` renders a parameter as an SQL literal, needed only when a prepared
    /// multi-row INSERT spans shards.
    pub fn resolve(
        &self,
        topology: &Topology,
        params: &[Bound],
        hasher: &KeyHasher<'_>,
        literal: &dyn Fn(&Bound) -> String,
    ) -> Result<Vec<Target>, RouteError> {
        let schema = topology.schema(&self.schema).ok_or_else(|| {
            RouteError::refused(format!(
                "logical schema '{}' is not configured",
                self.schema
            ))
        })?;
        let count = schema.shard_count();
        fn value<'v>(o: &'v Operand, params: &'v [Bound]) -> Result<KeyInput<'v>, RouteError> {
            match o {
                Operand::Literal(l) => Ok(KeyInput::Literal(l)),
                Operand::Param(i) => params.get(*i).map(KeyInput::Bound).ok_or_else(|| {
                    RouteError::refused(format!(
                        "parameter {} of the statement is not bound",
                        i + 1
                    ))
                }),
            }
        }
        let shards_list: Vec<u32> = match &self.targets {
            Targets::Shards(s) => s.clone(),
            Targets::Union(u) => {
                let whole = |t: Target| Target {
                    sql: self.template.render(&t.database),
                    ..t
                };
                return u.resolve(topology, params, hasher, literal, &whole);
            }
            Targets::ByKey(groups) => {
                let mut chosen: Option<Vec<u32>> = None;
                for g in groups {
                    let mut f = |o: &Operand| hasher(&g.rule, count, value(o, params)?);
                    let s = shards(&g.constraint, &mut f)?;
                    if groups.len() > 1 && s.as_ref().is_none_or(|s| s.len() != 1) {
                        return Err(RouteError::unsupported(format!(
                            "sharded tables not joined on their shard keys ({}) unless each is limited to the same single shard",
                            groups
                                .iter()
                                .map(|g| g.tables.join(", "))
                                .collect::<Vec<_>>()
                                .join("; ")
                        )));
                    }
                    chosen = match (chosen, s) {
                        (None, s) => s,
                        (Some(a), Some(b)) if a == b => Some(a),
                        (Some(_), _) => {
                            return Err(RouteError::unsupported(format!(
                                "sharded tables not joined on their shard keys ({}) whose key conditions select different shards",
                                groups
                                    .iter()
                                    .map(|g| g.tables.join(", "))
                                    .collect::<Vec<_>>()
                                    .join("; ")
                            )));
                        }
                    };
                }
                match chosen {
                    // Key conditions no row can meet (`k = 1 AND k = 2`): any one shard
                    // answers exactly (no rows, zero counts, the right columns).
                    Some(s) if s.is_empty() => vec![match schema {
                        SchemaTopology::Sharded(sharded) => sharded.home_shard,
                        SchemaTopology::Unsharded { .. } => 0,
                    }],
                    Some(s) => s,
                    None => match &self.unconstrained {
                        Unconstrained::AllShards => (0..count).collect(),
                        Unconstrained::Refuse(e) => return Err(e.clone()),
                    },
                }
            }
            Targets::Rows { rule, keys } => {
                let mut per_shard: Vec<(u32, Vec<usize>)> = Vec::new();
                // Position of each shard in `per_shard`: a search of the list per row cost
                // rows × shards on big inserts into schemas of many shards.
                let mut slot: hashbrown::HashMap<u32, usize> = hashbrown::HashMap::new();
                for (row, k) in keys.iter().enumerate() {
                    let input = value(k, params)?;
                    if matches!(
                        input,
                        KeyInput::Literal(Literal::Null) | KeyInput::Bound(Bound::Null)
                    ) {
                        return Err(RouteError::refused(format!(
                            "the shard key of a row inserted into logical schema '{}' is NULL; sharded rows need a key",
                            self.schema
                        )));
                    }
                    let stored = stored_key(rule, input);
                    let input = stored.as_ref().map_or(input, StoredKey::input);
                    let shard = hasher(rule, count, input)?.ok_or_else(|| {
                        RouteError::refused(
                            "a shard key value in INSERT that does not determine a shard",
                        )
                    })?;
                    match slot.get(&shard) {
                        Some(&i) => per_shard[i].1.push(row),
                        None => {
                            slot.insert(shard, per_shard.len());
                            per_shard.push((shard, vec![row]));
                        }
                    }
                }
                per_shard.sort_by_key(|(s, _)| *s);
                if per_shard.len() > 1 {
                    let split = self.split.as_ref().ok_or_else(|| {
                        RouteError::unsupported("a multi-row INSERT spanning shards")
                    })?;
                    let lit = |i: usize| params.get(i).map_or_else(|| "NULL".to_string(), literal);
                    let param_literal: Option<&dyn Fn(usize) -> String> =
                        if params.is_empty() { None } else { Some(&lit) };
                    return per_shard
                        .into_iter()
                        .map(|(shard, rows)| {
                            let (database, group) = place(schema, shard)?;
                            Ok(Target {
                                shard,
                                sql: split.render(&database, &rows, param_literal),
                                database,
                                group,
                            })
                        })
                        .collect();
                }
                per_shard.into_iter().map(|(s, _)| s).collect()
            }
        };
        if shards_list.len() > 1
            && let Some(e) = &self.single_shard_only
        {
            return Err(e.clone());
        }
        // Several shards answering a statement that needs a merge run its merge form.
        let template = match &self.merge_plan {
            Some(m) if shards_list.len() > 1 => &m.template,
            _ => &self.template,
        };
        shards_list
            .into_iter()
            .map(|shard| {
                let (database, group) = place(schema, shard)?;
                Ok(Target {
                    shard,
                    sql: template.render(&database),
                    database,
                    group,
                })
            })
            .collect()
    }
}

/// The value a DECIMAL shard key column stores for an inserted key, when it differs from
/// the value written: an exact decimal with more fraction digits than the column's scale
/// is stored rounded (see [`stored_decimal`]), and the row is placed by that value.
enum StoredKey {
    /// From a number literal or a string literal.
    Literal(Literal),
    /// From a bound parameter.
    Bound(Bound),
}

impl StoredKey {
    fn input(&self) -> KeyInput<'_> {
        match self {
            StoredKey::Literal(l) => KeyInput::Literal(l),
            StoredKey::Bound(b) => KeyInput::Bound(b),
        }
    }
}

/// The stored form of an inserted key value, `None` when it is the value as written (or
/// has no stored form: the hasher then decides, and refuses what it cannot place).
fn stored_key(rule: &TableRule, input: KeyInput<'_>) -> Option<StoredKey> {
    let TableRule::Sharded {
        key_type: KeyType::Decimal { precision, scale },
        ..
    } = rule
    else {
        return None;
    };
    let written: &[u8] = match input {
        // A number literal with an exponent is a DOUBLE in SQL, not an exact decimal.
        KeyInput::Literal(Literal::Number(n)) if !n.contains(['e', 'E']) => n.as_bytes(),
        KeyInput::Literal(Literal::Str(s)) => s.as_bytes(),
        KeyInput::Bound(Bound::Decimal(d)) => d.as_bytes(),
        KeyInput::Bound(Bound::Text(t)) => t,
        _ => return None,
    };
    let stored = stored_decimal(written, *precision, *scale)?;
    Some(match input {
        KeyInput::Literal(_) => StoredKey::Literal(Literal::Number(stored)),
        KeyInput::Bound(_) => StoredKey::Bound(Bound::Decimal(stored)),
    })
}

fn place(schema: &SchemaTopology, shard: u32) -> Result<(String, String), RouteError> {
    match (schema.database(shard), schema.group_of(shard)) {
        (Some(d), Some(g)) => Ok((d.to_string(), g.to_string())),
        _ => Err(RouteError::refused(format!("shard {shard} does not exist"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(key_type: KeyType) -> TableRule {
        TableRule::Sharded {
            key: "k".into(),
            key_type,
            collation: None,
            allow_full_scan_writes: false,
        }
    }

    const DECIMAL_10_2: KeyType = KeyType::Decimal {
        precision: 10,
        scale: 2,
    };

    fn stored(rule: &TableRule, input: KeyInput<'_>) -> Option<String> {
        match stored_key(rule, input)? {
            StoredKey::Literal(Literal::Number(n)) => Some(format!("literal {n}")),
            StoredKey::Bound(Bound::Decimal(d)) => Some(format!("bound {d}")),
            _ => Some("other".into()),
        }
    }

    #[test]
    fn inserted_decimal_keys_are_placed_by_their_stored_value() {
        let decimal = rule(DECIMAL_10_2);
        let number = |n: &str| Literal::Number(n.into());
        let cases: [(KeyInput<'_>, Option<&str>); 9] = [
            (KeyInput::Literal(&number("1.555")), Some("literal 1.56")),
            (KeyInput::Literal(&number("-1.555")), Some("literal -1.56")),
            (KeyInput::Literal(&number("7")), Some("literal 7")),
            (
                KeyInput::Literal(&Literal::Str(" 2.345 ".into())),
                Some("literal 2.35"),
            ),
            (
                KeyInput::Bound(&Bound::Decimal("1.555".into())),
                Some("bound 1.56"),
            ),
            (
                KeyInput::Bound(&Bound::Text(b"0.005".to_vec())),
                Some("bound 0.01"),
            ),
            // Approximate values and values too large keep their own (refused) hash.
            (KeyInput::Literal(&number("1.555e0")), None),
            (KeyInput::Bound(&Bound::Double(1.555)), None),
            (KeyInput::Literal(&number("99999999.995")), None),
        ];
        for (input, expected) in cases {
            assert_eq!(stored(&decimal, input).as_deref(), expected, "{input:?}");
        }
        // Other key types are placed by the value as written.
        for key_type in [
            KeyType::Integer,
            KeyType::Datetime { fsp: 0 },
            KeyType::String,
        ] {
            assert_eq!(
                stored(&rule(key_type), KeyInput::Literal(&number("1.555"))),
                None
            );
        }
        assert_eq!(
            stored(&TableRule::Global, KeyInput::Literal(&number("1.555"))),
            None
        );
    }
}
