//! `keygate audit verify`: recomputes every organization's audit hash chain
//! from the database (reads only; run it on a stopped server or beside a
//! running one) and prints one line per organization. Exit 1 when a chain
//! does not verify, naming the organization and the first seq that does not.

use clap::Subcommand;

use crate::cmd::refused::refuse;
use crate::service::audit;
use crate::state::config::DataArgs;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Recompute the audit log's hash chains: one line per organization with
    /// its number of events; exit 1 naming the organization and the first
    /// seq that does not verify.
    Verify {
        #[command(flatten)]
        data: DataArgs,
        /// Only this organization (org_…).
        #[arg(long)]
        org: Option<String>,
    },
}

pub async fn run(c: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::Verify { data, org } = c;
    let store = data.open_as_it_is().await?;
    let pending = store.pending_migrations().await?;
    if !pending.is_empty() {
        return refuse(format!(
            "the database lacks migrations ({}): run `keygate migrate` first",
            crate::cmd::migrate::list(&pending)
        ));
    }
    let checks = audit::verify_chain(store.as_ref(), org.as_deref())
        .await
        .map_err(super::refused)?;
    let mut broken = 0;
    for c in &checks {
        match &c.broken {
            None => println!("{}: {} events, the chain verifies", c.org_id, c.events),
            Some(b) => {
                broken += 1;
                println!(
                    "{}: the chain breaks at seq {}: {} ({} events verify before it)",
                    c.org_id, b.seq, b.reason, c.events
                );
            }
        }
    }
    if broken > 0 {
        anyhow::bail!("the audit chain does not verify");
    }
    Ok(())
}
