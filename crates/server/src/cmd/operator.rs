//! `keygate operator token create|list|revoke`: the operator API's tokens.
//! A new token is printed once; the database keeps its HMAC with the pepper.

use clap::Subcommand;

use crate::service::{self, operator};
use crate::state::config::DataArgs;
use crate::state::secrets;

#[derive(Subcommand)]
pub enum OperatorCommand {
    /// Operator tokens: `Authorization: Bearer kgop_…` on `/operator/v1`.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it once.
    Create {
        #[command(flatten)]
        data: DataArgs,
        /// Its name, shown as `operator:<name>` in audit logs.
        #[arg(long)]
        name: String,
    },
    /// List the tokens' names (never the tokens).
    List {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Revoke a token by name: its next request is refused.
    Revoke {
        #[command(flatten)]
        data: DataArgs,
        name: String,
    },
}

pub enum CliError {
    Service(service::Error),
    Other(anyhow::Error),
}

impl From<service::Error> for CliError {
    fn from(e: service::Error) -> CliError {
        CliError::Service(e)
    }
}

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> CliError {
        CliError::Other(e)
    }
}

pub async fn run(c: OperatorCommand) -> Result<(), CliError> {
    let OperatorCommand::Token(c) = c;
    match c {
        TokenCommand::Create { data, name } => {
            let store = data.open_store().await?;
            let pepper = secrets::load_pepper(
                &data.data_dir,
                std::env::var("KEYGATE_PEPPER").ok().as_deref(),
            )?;
            let token = operator::create_token(store.as_ref(), &pepper, &name).await?;
            // Standard output only, once: it is what the operator asked for.
            println!("{token}");
        }
        TokenCommand::List { data } => {
            let store = data.open_store().await?;
            for t in operator::tokens(store.as_ref()).await? {
                println!(
                    "{}",
                    serde_json::json!({"name": t.name,
                        "created_at": keygate_core::time::format_rfc3339(t.created_at)})
                );
            }
        }
        TokenCommand::Revoke { data, name } => {
            let store = data.open_store().await?;
            operator::revoke_token(store.as_ref(), &name).await?;
            println!("{}", serde_json::json!({"revoked": name}));
        }
    }
    Ok(())
}
