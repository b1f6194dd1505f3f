//! `keygate migrate`: brings the database schema up to this build's, prints
//! what it applied and exits. `serve` does the same at start unless given
//! `--no-migrate`, for rollouts where one job migrates and many instances start.

use keygate_store::Migration;

use crate::state::config::DataArgs;

pub async fn run(data: &DataArgs) -> anyhow::Result<()> {
    let store = data.open_store_unmigrated().await?;
    let applied = store.migrate().await?;
    if applied.is_empty() {
        println!("the schema is up to date: nothing to apply");
    }
    for m in &applied {
        println!("applied {m}");
    }
    Ok(())
}

/// `0009 rate limits, 0010 leaked previous secret`
pub fn list(migrations: &[Migration]) -> String {
    let names: Vec<String> = migrations.iter().map(ToString::to_string).collect();
    names.join(", ")
}
