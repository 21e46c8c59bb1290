//! The live snapshot: readers keep the snapshot they loaded while a reload swaps in another.

use myshard_config::{LiveConfig, parse};

const TEXT: &str = "listen: 127.0.0.1:3307\nusers: []\ngroups: []\nschemas: []\n";

#[test]
fn store_replaces_the_snapshot_for_later_loads_only() {
    let Ok(first) = parse(TEXT, "a.yaml") else {
        panic!("TEXT must parse");
    };
    let live = LiveConfig::new(first.clone());
    let before = live.load();
    assert_eq!(*before, first);

    let mut second = first.clone();
    second.max_client_connections = 7;
    live.store(second.clone());

    assert_eq!(before.max_client_connections, first.max_client_connections);
    assert_eq!(*live.load(), second);
}
