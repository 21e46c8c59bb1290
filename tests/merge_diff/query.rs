//! The random query generator of the merge differential test. Every query reaches many
//! shards (no shard-key condition, or an IN over several keys), except a small share with
//! one key or over the global table alone, which one shard answers and which keep the
//! comparison itself honest while merges are refused. The families:
//!
//! - rows with ORDER BY (columns, a select alias, a position, a column not selected) and
//!   LIMIT (`LIMIT n`, `LIMIT off, n`, `LIMIT n OFFSET m`; in prepared statements often
//!   with count and offset bound as parameters: constructs `limit-param`,
//!   `limit-offset-param`);
//! - aggregates without GROUP BY (COUNT, SUM, MIN, MAX, AVG, COUNT(DISTINCT)), also over
//!   no rows;
//! - GROUP BY one or two columns with aggregates, HAVING, ORDER BY a key or an aggregate,
//!   LIMIT;
//! - SELECT DISTINCT, COUNT(DISTINCT);
//! - UNION and UNION ALL of two SELECTs, UNION with ORDER BY / LIMIT on top (text only);
//!
//! each over one sharded table, a co-located join of two sharded tables on their keys, or a
//! join with the global table, and about 30 % as server-side prepared statements with the
//! WHERE literals bound as parameters. A query whose ORDER BY does not fix the order of
//! every row is compared as a multiset; LIMIT comes only after an order that does (ending
//! with a unique key, or with every group key / DISTINCT column).

use super::data::{Dom, Ty, value};
use super::source::{self, Ref, Source};
use crate::harness::differential::{Lit, Rng, Sql, Stmt};
use myshard_router::hash::Collation;

/// A generated query and how to compare its result.
pub struct Query {
    pub stmt: Stmt,
    /// Per result column: the collation when the value may be any member of its equality
    /// class (group keys, DISTINCT values, MIN/MAX of a string).
    pub loose: Vec<Option<Collation>>,
    /// What its WHERE does to routing, for the second table of counts.
    pub reach: &'static str,
    /// It reads a LEFT JOIN.
    pub outer_join: bool,
}

/// What a family produced besides the SQL.
struct Shape {
    construct: &'static str,
    ordered: bool,
    loose: Vec<Option<Collation>>,
    reach: &'static str,
}

/// A select-list entry.
struct Item {
    sql: String,
    loose: Option<Collation>,
    /// ORDER BY on it is stable across summation orders (not a SUM/AVG of doubles).
    orderable: bool,
    /// The name to ORDER BY or HAVING it by.
    name: String,
}

/// Which aggregate functions a select list used, for the construct name.
#[derive(Default)]
struct Used {
    avg: bool,
    count_distinct: bool,
    min_max_string: bool,
}

pub struct Gen {
    rng: Rng,
    user_ids: Vec<i64>,
    emails: Vec<String>,
}

impl Gen {
    pub fn new(seed: u64, user_ids: Vec<i64>, emails: Vec<String>) -> Gen {
        Gen {
            rng: Rng::new(seed),
            user_ids,
            emails,
        }
    }

    pub fn query(&mut self) -> Query {
        let src = source::pick(&mut self.rng);
        let prepared = self.rng.chance(30);
        let mut sql = Sql::new(prepared);
        let shape = match self.rng.below(100) {
            0..=29 => self.rows(&src, &mut sql),
            30..=51 => self.aggregate(&src, &mut sql),
            52..=79 => self.group_by(&src, &mut sql),
            80..=89 => self.distinct(&src, &mut sql),
            90..=94 => self.count_distinct(&src, &mut sql),
            _ => self.union(&src, &mut sql),
        };
        let construct = format!("{}{}", src.prefix, shape.construct);
        Query {
            stmt: sql.select(&construct, shape.ordered),
            loose: shape.loose,
            reach: shape.reach,
            outer_join: src.from.contains(" LEFT JOIN "),
        }
    }

    // -- pieces

    fn dir(&mut self) -> &'static str {
        const DIRECTIONS: [&str; 3] = ["", " ASC", " DESC"];
        DIRECTIONS[self.rng.below(DIRECTIONS.len())]
    }

    /// `n` different columns of `src` that `keep` accepts (fewer if there are not enough).
    fn sample(&mut self, src: &Source, n: usize, keep: impl Fn(&Ref) -> bool) -> Vec<Ref> {
        let mut pool: Vec<Ref> = src.cols.iter().filter(|r| keep(r)).cloned().collect();
        self.rng.shuffle(&mut pool);
        pool.truncate(n);
        pool
    }

    fn lit(&mut self, r: &Ref) -> Lit {
        value(&mut self.rng, r.col, &self.user_ids, &self.emails)
    }

    /// One condition on `r`, its literals bound when the statement is prepared.
    fn condition(&mut self, sql: &mut Sql, r: &Ref) {
        let c = r.sql.as_str();
        let null = if self.rng.chance(50) {
            " IS NULL"
        } else {
            " IS NOT NULL"
        };
        let op = *self
            .rng
            .pick(&[" > ", " <= ", " = ", " <> ", " >= ", " < "]);
        match (r.collation(), self.rng.below(6)) {
            (_, 0) => {
                sql.s(c).s(null);
            }
            (_, 1) => {
                let (a, b) = (self.lit(r), self.lit(r));
                sql.s(c).s(" BETWEEN ").l(&a).s(" AND ").l(&b);
            }
            (_, 2) => {
                let n = self.rng.range(2, 4) as usize;
                let vs: Vec<Lit> = (0..n).map(|_| self.lit(r)).collect();
                sql.s(c).s(" IN ").list(&vs);
            }
            (Some(_), 3) => {
                let pattern = match self.lit(r) {
                    Lit::Str(s) => match s.chars().next() {
                        Some(ch) if ch.is_alphanumeric() => format!("{ch}%"),
                        _ => "%e%".into(),
                    },
                    _ => "%a%".into(),
                };
                sql.s(c).s(" LIKE ").l(&Lit::Str(pattern));
            }
            _ => {
                let v = self.lit(r);
                sql.s(c).s(op).l(&v);
            }
        }
    }

    /// Appends a WHERE (or none): no condition at `pct_none` %, otherwise mostly conditions
    /// on other columns, sometimes an IN over several shard keys, one key, or a condition
    /// no row meets (always when `empty`). Returns the reach label.
    fn filter(&mut self, sql: &mut Sql, src: &Source, pct_none: u64, empty: bool) -> &'static str {
        let r = self.rng.below(100) as u64;
        if empty || (r >= pct_none && r < pct_none + 8) {
            sql.s(" WHERE ");
            match self.rng.below(3) {
                0 => sql.s(&format!("{} IS NULL", src.never)),
                1 => sql.s("1 = 0"),
                _ => {
                    let c = self.sample(src, 1, |r| r.col.null_pct > 0 && r.numeric());
                    match c.first() {
                        Some(c) => sql.s(&format!("{} > 1e9", c.sql)),
                        None => sql.s(&format!("{} IS NULL", src.never)),
                    }
                }
            };
            return "WHERE matching no row";
        }
        if r < pct_none {
            return "no WHERE";
        }
        let key = src.key.clone();
        if let Some(key) = key.filter(|_| self.rng.chance(30)) {
            sql.s(" WHERE ");
            let label = if self.rng.chance(15) {
                let v = self.lit(&key);
                sql.s(&key.sql).s(" = ").l(&v);
                "key = … (one shard)"
            } else {
                let n = self.rng.range(2, 6) as usize;
                let vs: Vec<Lit> = (0..n).map(|_| self.lit(&key)).collect();
                sql.s(&key.sql).s(" IN ").list(&vs);
                "key IN (…)"
            };
            if self.rng.chance(40) {
                // Not on a shard key: a second key condition could contradict the first
                // and select no shard at all, which is routing, not merging.
                sql.s(" AND ");
                let c = self.sample(src, 1, |r| !r.shard_key);
                self.condition(sql, &c[0]);
            }
            return label;
        }
        sql.s(" WHERE ");
        let n = if self.rng.chance(35) { 2 } else { 1 };
        let mut cs = self.sample(src, n, |_| true);
        let or = cs.len() == 2 && self.rng.chance(30);
        if !or && cs.len() == 2 && cs.iter().all(|c| c.shard_key) {
            // Two key conditions joined by AND could select no shard at all.
            cs.truncate(1);
        }
        if or {
            sql.s("(");
        }
        for (i, c) in cs.iter().enumerate() {
            if i > 0 {
                sql.s(if or { " OR " } else { " AND " });
            }
            self.condition(sql, c);
        }
        if or {
            sql.s(")");
        }
        "WHERE without key"
    }

    /// Appends ` LIMIT …` in one of its three spellings and returns the construct it makes.
    /// In a prepared statement the count and offset are often bound as parameters (paging
    /// parameters, each alone or both).
    fn limit(&mut self, sql: &mut Sql) -> &'static str {
        let n = if self.rng.chance(3) {
            0
        } else {
            self.rng.range(1, 25)
        };
        // Mostly small offsets: a filtered result has few rows.
        let off = if self.rng.chance(75) {
            self.rng.range(0, 8)
        } else {
            self.rng.range(9, 40)
        };
        let bind = sql.prepared && self.rng.chance(60);
        let (bind_n, bind_off) = match (bind, self.rng.below(4)) {
            (false, _) => (false, false),
            (true, 0) => (true, false),
            (true, 1) => (false, true),
            (true, _) => (true, true),
        };
        // Appends `v` inline or as a parameter.
        let put = |sql: &mut Sql, v: i64, bound: bool| {
            if bound {
                sql.s("?");
                sql.params.push(mysql_async::Value::Int(v));
            } else {
                sql.s(&v.to_string());
            }
        };
        let form = self.rng.below(3);
        sql.s(" LIMIT ");
        match form {
            0 => put(sql, n, bind_n),
            1 => {
                put(sql, off, bind_off);
                sql.s(", ");
                put(sql, n, bind_n);
            }
            _ => {
                put(sql, n, bind_n);
                sql.s(" OFFSET ");
                put(sql, off, bind_off);
            }
        }
        match (form, bind_n || (form != 0 && bind_off)) {
            (0, false) => "limit",
            (0, true) => "limit-param",
            (_, false) => "limit-offset",
            (_, true) => "limit-offset-param",
        }
    }

    /// An expression over `r` for a select alias (none that could overflow a BIGINT key).
    fn expression(&mut self, r: &Ref) -> String {
        let c = &r.sql;
        let forms: &[&str] = match (r.col.ty, r.col.dom) {
            (_, Dom::Serial | Dom::UserId | Dom::UserRef) => &["{c} DIV 100", "{c} % 97"],
            (Ty::Int, _) => &["{c} * 2", "COALESCE({c}, -1)", "-{c}", "{c} % 7"],
            (Ty::Dec, _) => &["{c} * 3", "ROUND({c}, 0)", "-{c}"],
            (Ty::Double, _) => &["{c} * 2", "ABS({c})"],
            (Ty::Date, _) => &["YEAR({c})", "DATE_ADD({c}, INTERVAL 3 DAY)"],
            (Ty::DateTime, _) => &["DATE({c})", "HOUR({c})"],
            (Ty::Str(_), _) => &[
                "LOWER({c})",
                "UPPER({c})",
                "CHAR_LENGTH({c})",
                "CONCAT({c}, '~')",
            ],
        };
        self.rng.pick(forms).replace("{c}", c)
    }

    /// A column for COUNT(DISTINCT …): now and then the shard key (whose distinct values
    /// never span shards, so per-shard counts add up), else any but a DOUBLE.
    fn distinct_column(&mut self, src: &Source) -> Ref {
        match &src.key {
            Some(key) if self.rng.chance(30) => key.clone(),
            _ => self.sample(src, 1, |r| r.col.ty != Ty::Double).remove(0),
        }
    }

    /// An aggregate over `src` named `name`, recording what it used.
    fn aggregate_item(&mut self, src: &Source, name: &str, used: &mut Used) -> Item {
        let any = self.sample(src, 1, |_| true).remove(0);
        let num = self.sample(src, 1, Ref::numeric).remove(0);
        let (sql, loose, orderable) = match self.rng.below(8) {
            0 => ("COUNT(*)".to_string(), None, true),
            1 => (format!("COUNT({})", any.sql), None, true),
            2 => {
                used.count_distinct = true;
                let c = self.distinct_column(src);
                (format!("COUNT(DISTINCT {})", c.sql), None, true)
            }
            3 | 4 => {
                let orderable = num.col.ty != Ty::Double;
                if self.rng.chance(40) {
                    used.avg = true;
                    (format!("AVG({})", num.sql), None, orderable)
                } else {
                    (format!("SUM({})", num.sql), None, orderable)
                }
            }
            _ => {
                let f = if self.rng.chance(50) { "MIN" } else { "MAX" };
                used.min_max_string |= any.collation().is_some();
                (format!("{f}({})", any.sql), any.collation(), true)
            }
        };
        let aliased = self.rng.chance(60);
        Item {
            sql: if aliased {
                format!("{sql} AS {name}")
            } else {
                sql.clone()
            },
            loose,
            orderable,
            name: if aliased { name.to_string() } else { sql },
        }
    }

    fn select_list(sql: &mut Sql, distinct: bool, items: &[Item], src: &Source) {
        let list: Vec<&str> = items.iter().map(|i| i.sql.as_str()).collect();
        sql.s(if distinct {
            "SELECT DISTINCT "
        } else {
            "SELECT "
        })
        .s(&list.join(", "))
        .s(" FROM ")
        .s(&src.from);
    }

    fn column_item(r: &Ref, loose: bool) -> Item {
        Item {
            sql: r.sql.clone(),
            loose: if loose { r.collation() } else { None },
            orderable: true,
            name: r.sql.clone(),
        }
    }

    /// ORDER BY entries for `items[i]` for every `i` in `which`: by position, by name.
    fn order_items(&mut self, items: &[Item], which: &[usize]) -> Vec<String> {
        let by_position = self.rng.chance(30);
        which
            .iter()
            .map(|&i| {
                let dir = self.dir();
                if by_position {
                    format!("{}{dir}", i + 1)
                } else {
                    format!("{}{dir}", items[i].name)
                }
            })
            .collect()
    }

    // -- families

    fn rows(&mut self, src: &Source, sql: &mut Sql) -> Shape {
        let n = self.rng.range(1, 4) as usize;
        let cols = self.sample(src, n, |_| true);
        let mut items: Vec<Item> = cols.iter().map(|r| Self::column_item(r, false)).collect();
        let mut order = Vec::new();
        let construct = match self.rng.below(4) {
            0 => {
                let r = self.sample(src, 1, |_| true).remove(0);
                let e = self.expression(&r);
                let dir = self.dir();
                items.push(Item {
                    sql: format!("{e} AS x1"),
                    loose: None,
                    orderable: true,
                    name: "x1".into(),
                });
                order.push(format!("x1{dir}"));
                "order-by-alias"
            }
            1 => {
                let k = self.rng.range(1, items.len().min(2) as i64) as usize;
                let mut which: Vec<usize> = (0..items.len()).collect();
                self.rng.shuffle(&mut which);
                which.truncate(k);
                for i in which {
                    let dir = self.dir();
                    order.push(format!("{}{dir}", i + 1));
                }
                "order-by-position"
            }
            2 => {
                let hidden = self.sample(src, 1, |r| !cols.iter().any(|c| c.sql == r.sql));
                for r in hidden {
                    let dir = self.dir();
                    order.push(format!("{}{dir}", r.sql));
                }
                "order-by-hidden"
            }
            _ => {
                let k = self.rng.range(1, cols.len().min(3) as i64) as usize;
                for r in &cols[..k] {
                    let dir = self.dir();
                    order.push(format!("{}{dir}", r.sql));
                }
                "order-by"
            }
        };
        Self::select_list(sql, false, &items, src);
        let reach = self.filter(sql, src, 15, false);
        let limit = self.rng.chance(45);
        let complete = limit || self.rng.chance(60);
        if complete {
            for u in &src.unique {
                let dir = self.dir();
                order.push(format!("{u}{dir}"));
            }
        }
        sql.s(" ORDER BY ").s(&order.join(", "));
        let mut construct = construct;
        if limit {
            construct = self.limit(sql);
        }
        Shape {
            construct,
            ordered: complete,
            loose: vec![None; items.len()],
            reach,
        }
    }

    fn aggregate(&mut self, src: &Source, sql: &mut Sql) -> Shape {
        let mut used = Used::default();
        let n = self.rng.range(1, 5);
        let items: Vec<Item> = (1..=n)
            .map(|i| self.aggregate_item(src, &format!("a{i}"), &mut used))
            .collect();
        Self::select_list(sql, false, &items, src);
        let empty = self.rng.chance(12);
        let reach = self.filter(sql, src, 20, empty);
        let construct = if empty {
            "aggregate-empty"
        } else if used.count_distinct {
            "count-distinct"
        } else if used.avg {
            "avg"
        } else if used.min_max_string {
            "min-max-string"
        } else {
            "aggregate"
        };
        Shape {
            construct,
            ordered: true,
            loose: items.iter().map(|i| i.loose).collect(),
            reach,
        }
    }

    fn group_by(&mut self, src: &Source, sql: &mut Sql) -> Shape {
        let two = self.rng.chance(40);
        let keys = self.sample(src, if two { 2 } else { 1 }, Ref::groupable);
        let hide_second = keys.len() == 2 && self.rng.chance(10);
        let shown = if hide_second { 1 } else { keys.len() };
        let mut items: Vec<Item> = keys[..shown]
            .iter()
            .map(|r| Self::column_item(r, true))
            .collect();
        let mut used = Used::default();
        for i in 1..=self.rng.range(1, 3) {
            let item = self.aggregate_item(src, &format!("a{i}"), &mut used);
            items.push(item);
        }
        Self::select_list(sql, false, &items, src);
        let reach = self.filter(sql, src, 35, false);
        let names: Vec<&str> = keys.iter().map(|k| k.sql.as_str()).collect();
        sql.s(" GROUP BY ").s(&names.join(", "));
        let having = self.rng.chance(30);
        if having {
            let h = self.having(src, &items[shown..]);
            sql.s(" HAVING ").s(&h);
        }
        // ORDER BY: group keys (all of them, or only the first of two), or an aggregate
        // then every key.
        let mut order = Vec::new();
        let mut complete = false;
        if self.rng.chance(60) {
            let aggregates: Vec<usize> = (shown..items.len())
                .filter(|&i| items[i].orderable)
                .collect();
            if !aggregates.is_empty() && self.rng.chance(45) {
                let a = *self.rng.pick(&aggregates);
                if self.rng.chance(25) {
                    // An aggregate that is not selected.
                    let mut unused = Used::default();
                    let hidden = self.aggregate_item(src, "h", &mut unused);
                    let expr = hidden.sql.split(" AS ").next().unwrap_or("COUNT(*)");
                    let expr = if hidden.orderable { expr } else { "COUNT(*)" };
                    let dir = self.dir();
                    order.push(format!("{expr}{dir}"));
                } else {
                    order.extend(self.order_items(&items, &[a]));
                }
            }
            let only_first = keys.len() == 2 && order.is_empty() && self.rng.chance(25);
            let take = if only_first { 1 } else { keys.len() };
            for k in &keys[..take] {
                let dir = self.dir();
                order.push(format!("{}{dir}", k.sql));
            }
            complete = !only_first;
            sql.s(" ORDER BY ").s(&order.join(", "));
        }
        let mut construct = if having {
            "having"
        } else if !order.is_empty() {
            "group-by+order-by"
        } else if keys.len() == 2 {
            "group-by-2"
        } else {
            "group-by"
        };
        if complete && self.rng.chance(35) {
            self.limit(sql);
            if !having {
                construct = "group-by+limit";
            }
        }
        Shape {
            construct,
            ordered: complete,
            loose: items.iter().map(|i| i.loose).collect(),
            reach,
        }
    }

    /// A HAVING condition over aggregates (selected ones by name, or others); thresholds
    /// inline, none on a sum of doubles (whose last bits depend on the order of addition).
    fn having(&mut self, src: &Source, aggregates: &[Item]) -> String {
        let exact = |r: &Ref| matches!(r.col.ty, Ty::Int | Ty::Dec);
        match self.rng.below(5) {
            0 => format!("COUNT(*) > {}", self.rng.range(1, 3)),
            1 => {
                let s = self.sample(src, 1, exact).remove(0);
                let m = self.sample(src, 1, |r| r.col.ty != Ty::Double).remove(0);
                let (sv, mv) = (self.lit(&s), self.lit(&m));
                format!(
                    "SUM({}) >= {} AND MIN({}) < {}",
                    s.sql,
                    sv.sql(),
                    m.sql,
                    mv.sql()
                )
            }
            2 => {
                let d = self.sample(src, 1, |r| matches!(r.col.ty, Ty::Date | Ty::DateTime));
                match d.first() {
                    Some(d) => format!("MAX({}) >= '2022-01-01'", d.sql),
                    None => "COUNT(*) >= 2".into(),
                }
            }
            3 => {
                let c = self.sample(src, 1, |r| r.col.ty != Ty::Double).remove(0);
                format!("COUNT(DISTINCT {}) >= 2", c.sql)
            }
            _ => match aggregates.iter().find(|a| a.orderable && a.loose.is_none()) {
                Some(a) => format!("{} > {}", a.name, self.rng.range(0, 50)),
                None => "COUNT(*) > 1".into(),
            },
        }
    }

    fn distinct(&mut self, src: &Source, sql: &mut Sql) -> Shape {
        let n = if self.rng.chance(60) { 1 } else { 2 };
        let cols = self.sample(src, n, |r| r.groupable());
        let items: Vec<Item> = cols.iter().map(|r| Self::column_item(r, true)).collect();
        Self::select_list(sql, true, &items, src);
        let reach = self.filter(sql, src, 30, false);
        let mut construct = "distinct";
        let ordered = self.rng.chance(50);
        if ordered {
            let all: Vec<usize> = (0..items.len()).collect();
            let order = self.order_items(&items, &all);
            sql.s(" ORDER BY ").s(&order.join(", "));
            construct = "distinct+order-by";
            // MariaDB 10.11 ignores OFFSET when every DISTINCT column comes from a table
            // it reads as a constant (`countries` pinned through `c.code = a.country AND
            // a.country = 'pt'`): `SELECT DISTINCT c.name … LIMIT 10 OFFSET 8` returns the
            // one distinct row. A plain-server defect (docs/DIFFERENTIAL.md), not generated.
            let global_only = cols.iter().all(|r| r.sql.starts_with("c."));
            if self.rng.chance(40) && !global_only {
                self.limit(sql);
                construct = "distinct+limit";
            }
        }
        Shape {
            construct,
            ordered,
            loose: items.iter().map(|i| i.loose).collect(),
            reach,
        }
    }

    /// `… UNION [ALL] …` of two SELECTs of the same columns with their own WHERE, now and
    /// then ordered by position and cut by LIMIT (UNION: its rows are distinct, so an order
    /// over every column is complete). Text only: a prepared UNION over several shards is
    /// refused by design.
    fn union(&mut self, src: &Source, sql: &mut Sql) -> Shape {
        sql.prepared = false;
        let n = if self.rng.chance(60) { 1 } else { 2 };
        let cols = self.sample(src, n, |r| r.groupable());
        let all = self.rng.chance(50);
        let items: Vec<Item> = cols.iter().map(|r| Self::column_item(r, !all)).collect();
        Self::select_list(sql, false, &items, src);
        let reach = self.filter(sql, src, 30, false);
        sql.s(if all { " UNION ALL " } else { " UNION " });
        Self::select_list(sql, false, &items, src);
        self.filter(sql, src, 30, false);
        let mut construct = if all { "union-all" } else { "union" };
        let ordered = !all && self.rng.chance(50);
        if ordered {
            let order: Vec<String> = (0..items.len())
                .map(|i| format!("{}{}", i + 1, self.dir()))
                .collect();
            sql.s(" ORDER BY ").s(&order.join(", "));
            construct = "union+order-by";
            if self.rng.chance(50) {
                self.limit(sql);
                construct = "union+limit";
            }
        }
        Shape {
            construct,
            ordered,
            loose: items.iter().map(|i| i.loose).collect(),
            reach,
        }
    }

    fn count_distinct(&mut self, src: &Source, sql: &mut Sql) -> Shape {
        let grouped = self.rng.chance(40);
        let key = self.sample(src, 1, Ref::groupable).remove(0);
        let mut items = Vec::new();
        if grouped {
            items.push(Self::column_item(&key, true));
        }
        let n = self.rng.range(1, 2) as usize;
        let cols: Vec<Ref> = (0..n).map(|_| self.distinct_column(src)).collect();
        for (i, c) in cols.iter().enumerate() {
            items.push(Item {
                sql: format!("COUNT(DISTINCT {}) AS d{i}", c.sql),
                loose: None,
                orderable: true,
                name: format!("d{i}"),
            });
        }
        if self.rng.chance(40) {
            items.push(Item {
                sql: "COUNT(*) AS cnt".into(),
                loose: None,
                orderable: true,
                name: "cnt".into(),
            });
        }
        Self::select_list(sql, false, &items, src);
        let reach = self.filter(sql, src, 30, false);
        let mut ordered = !grouped;
        if grouped {
            sql.s(" GROUP BY ").s(&key.sql);
            if self.rng.chance(50) {
                let dir = self.dir();
                sql.s(&format!(" ORDER BY {}{dir}", key.sql));
                ordered = true;
            }
        }
        Shape {
            construct: if grouped {
                "group-by+count-distinct"
            } else {
                "count-distinct"
            },
            ordered,
            loose: items.iter().map(|i| i.loose).collect(),
            reach,
        }
    }
}
