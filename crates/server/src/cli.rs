//! The `keygate` command.

use std::io::Read as _;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use keygate_store::Store;
use keygate_store::postgres::PgStore;
use keygate_store::sqlite::SqliteStore;

use crate::config::{DataArgs, ServeArgs};
use crate::secrets;
use crate::service::orgs;

#[derive(Parser)]
#[command(
    name = "keygate",
    version,
    about = "API keys, access tokens and scope checks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Manage organizations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage the token-signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Create an organization, its accounts and its owner; prints their ids as JSON.
    Create {
        #[command(flatten)]
        data: DataArgs,
        #[arg(long)]
        name: String,
        #[arg(long)]
        owner_email: String,
        /// Read the owner's password from standard input (first line).
        #[arg(long, required = true)]
        owner_password_stdin: bool,
        /// An account to create; repeat for several.
        #[arg(long = "account")]
        accounts: Vec<String>,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Start signing tokens with a new key; tokens of the previous key stay valid
    /// until they expire, and JWKS lists both. Running servers pick it up within seconds.
    RotateSigningKey {
        #[command(flatten)]
        data: DataArgs,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => crate::serve::serve(*args).await,
        Command::Org(OrgCommand::Create {
            data,
            name,
            owner_email,
            owner_password_stdin: _,
            accounts,
        }) => {
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .context("reading the owner's password from standard input")?;
            let password = password.lines().next().unwrap_or("").to_owned();
            let store = open_store(&data).await?;
            let created =
                orgs::create_org(store.as_ref(), &name, &owner_email, &password, &accounts)
                    .await
                    .map_err(|e| anyhow::anyhow!(describe(e)))?;
            let out = serde_json::json!({
                "org_id": created.org_id,
                "owner_user_id": created.owner_user_id,
                "accounts": created.accounts.iter()
                    .map(|a| serde_json::json!({"account_id": a.account_id, "name": a.name}))
                    .collect::<Vec<_>>(),
            });
            println!("{out}");
            Ok(())
        }
        Command::Keys(KeysCommand::RotateSigningKey { data }) => {
            std::fs::create_dir_all(&data.data_dir)?;
            let kid = secrets::rotate_signing_key(&data.data_dir)?;
            println!("{}", serde_json::json!({"kid": kid}));
            Ok(())
        }
    }
}

/// Opens the database named by the data args, creating the data dir first.
pub async fn open_store(data: &DataArgs) -> anyhow::Result<Arc<dyn Store>> {
    std::fs::create_dir_all(&data.data_dir)
        .with_context(|| format!("creating {}", data.data_dir.display()))?;
    let url = data.database_url();
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(&url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::open(&url).await?))
    } else {
        // Not echoed: a database URL may carry a password.
        anyhow::bail!("unsupported --database-url: use sqlite://<file> or postgres://…")
    }
}

/// A service error as one line for the terminal.
fn describe(e: crate::http::error::ApiError) -> String {
    use crate::http::error::ApiError;
    match e {
        ApiError::Validation { source, message } => format!("{source}: {message}"),
        ApiError::Conflict(m) => m,
        other => format!("{other:?}"),
    }
}
