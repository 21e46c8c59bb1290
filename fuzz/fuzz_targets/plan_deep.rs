//! The shard planner (`myshard_router::shard::plan::plan`) on deep and long SQL.
//!
//! Input layout: 1 byte schema choice (sharded `shop`, unsharded `crm`, none), 2 bytes
//! repetition count (little endian), then text split at the first 0xFF byte into a
//! statement template and a chain term: every `@` in the template is replaced by the term
//! repeated the given number of times, so small inputs grow into the long chains
//! (`id = 1 OR id = 2 …`, `1+1+…`) that used to overflow the stack. Statements longer than
//! twice `limits.max_statement_bytes` are skipped (the router refuses them unread).
//! Planning runs on a thread with the stack the proxy gives its planner threads; any crash
//! is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use myshard_config::Topology;
use myshard_router::limits::planner_stack_bytes;
use myshard_router::shard::plan::{RouteContext, plan};
use std::sync::OnceLock;

const YAML: &str = r#"
listen: 127.0.0.1:3307
users: [{name: u, password: p, schemas: ["*"]}]
groups:
  - {name: g0, user: r, write_hosts: ["127.0.0.1:1"]}
  - {name: g1, user: r, write_hosts: ["127.0.0.1:2"]}
schemas:
  - name: shop
    shards: 4
    placement: [{group: g0, shards: "0-1"}, {group: g1, shards: "2-3"}]
    tables:
      - {name: t, shard_key: id}
      - {name: g, global: true}
  - {name: crm, group: g1, database: crm_db}
"#;

fn topology() -> &'static Topology {
    static T: OnceLock<Topology> = OnceLock::new();
    T.get_or_init(|| {
        let c = myshard_config::parse(YAML, "fuzz.yaml").expect("fuzz config");
        Topology::new(&c)
    })
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let schema = [Some("shop"), Some("crm"), None][usize::from(data[0] % 3)];
    let repeat = usize::from(u16::from_le_bytes([data[1], data[2]]));
    let rest = &data[3..];
    let (template, term) = match rest.iter().position(|&b| b == 0xFF) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &b""[..]),
    };
    let template = String::from_utf8_lossy(template);
    let term = String::from_utf8_lossy(term);
    // The statement is built only when it stays within twice the router's size limit: both
    // sides of `limits.max_statement_bytes` get exercised, while a few `@` times a long term
    // times 65,535 would otherwise ask for gigabytes, a harness out-of-memory and no finding.
    let limits = topology().limits();
    let holes = template.matches('@').count();
    let bytes = holes
        .checked_mul(term.len().saturating_mul(repeat))
        .and_then(|b| b.checked_add(template.len()));
    if bytes.is_none_or(|b| b > limits.max_statement_bytes.saturating_mul(2)) {
        return;
    }
    let sql = template.replace('@', &term.repeat(repeat));
    let depth = limits.max_expression_depth;
    std::thread::Builder::new()
        .stack_size(planner_stack_bytes(depth))
        .spawn(move || {
            let ctx = RouteContext {
                topology: topology(),
                schema,
            };
            let _ = plan(&sql, ctx);
        })
        .expect("planner thread")
        .join()
        .expect("plan panicked");
});
