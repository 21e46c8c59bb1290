//! examples/myshard.yaml, the configuration of examples/quickstart.sh and examples/cluster.sh,
//! stays valid and keeps the layout the README and the scripts describe: `shop` sharded over
//! 16 databases (0-7 on g0, 8-15 on g1) with sharded `customers` and `orders` and global
//! `countries`, and the unsharded `crm` on g1.

use anyhow::{Result, ensure};
use myshard_config::{SchemaTopology, TableRule, Topology};
use std::path::Path;

#[test]
fn example_configuration_is_a_sharded_shop_over_two_groups() -> Result<()> {
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/myshard.yaml"
    ));
    let config = myshard_config::load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let topology = Topology::checked(&config).map_err(|e| anyhow::anyhow!("{e}"))?;
    ensure!(
        config.listen == "127.0.0.1:3307",
        "listen: {}",
        config.listen
    );

    let Some(SchemaTopology::Sharded(shop)) = topology.schema("shop") else {
        anyhow::bail!("schema shop is not sharded");
    };
    ensure!(shop.shards == 16, "shop has {} shards", shop.shards);
    for shard in 0..16 {
        let group = if shard < 8 { "g0" } else { "g1" };
        ensure!(
            shop.group_of(shard) == Some(group),
            "shard {shard} on {:?}",
            shop.group_of(shard)
        );
        let database = format!("shop_{shard:04}");
        ensure!(shop.database(shard) == Some(database.as_str()));
    }
    for (table, key) in [("customers", "id"), ("orders", "customer_id")] {
        ensure!(
            matches!(shop.table(table), Some(TableRule::Sharded { key: k, .. }) if k == key),
            "{table} is not sharded on {key}: {:?}",
            shop.table(table)
        );
    }
    ensure!(matches!(shop.table("countries"), Some(TableRule::Global)));

    ensure!(topology.group_of("crm", 0) == Some("g1"));
    ensure!(topology.physical_database("crm", 0) == Some("crm"));
    Ok(())
}
