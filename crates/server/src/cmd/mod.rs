//! The `keygate` command: parses the command line and calls the
//! subcommand, one file each (`serve`, `secrets generate`, `backup` and
//! `restore`, `migrate`, `check`, `dev`).

pub mod alloc_count;
pub mod audit;
pub mod backup;
pub mod check;
pub mod demo;
pub mod dev;
pub mod listen;
pub mod malloc;
pub mod migrate;
pub mod operator;
pub mod reference;
pub mod refused;
pub mod secrets;
pub mod serve;
pub mod test_clock;
pub mod tls;

use std::io::Read as _;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::cmd::refused::Refused;
use crate::service::{self, invitations, key_policy, orgs};
use crate::state::config::{DataArgs, ServeArgs};

/// `keygate --version`: the crate's version and the commit it was built from
/// (`unknown` outside a git checkout; see build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("KEYGATE_COMMIT"),
    ")"
);

#[derive(Parser)]
#[command(
    name = "keygate",
    version = VERSION,
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
    /// Secrets for deployments that pass them in the environment.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Copy the SQLite database consistently while `serve` runs and writes,
    /// with the data dir's pepper and signing keys beside it in FILE.secrets.
    /// PostgreSQL: exit 2; use pg_dump.
    Backup {
        #[command(flatten)]
        data: DataArgs,
        /// The new backup file; an existing file is refused (exit 2).
        #[arg(long)]
        to: std::path::PathBuf,
    },
    /// Put a backup (and its FILE.secrets, when beside it) into an empty or
    /// new data dir; anything else there is refused (exit 2).
    Restore {
        #[command(flatten)]
        data: DataArgs,
        /// A file written by `keygate backup`.
        #[arg(long)]
        from: std::path::PathBuf,
    },
    /// Apply the database migrations this build has and the database lacks,
    /// print them and exit (see `serve --no-migrate`).
    Migrate {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Check what `serve` needs, with the same flags: the config, the secrets,
    /// the database, Redis and SMTP (when given). One line each; exit 1 if any
    /// fails.
    Check(Box<ServeArgs>),
    /// The operator API's credentials (`/operator/v1`).
    #[command(subcommand)]
    Operator(operator::OperatorCommand),
    /// The audit log's hash chains.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Tools for developing and benchmarking Keygate.
    #[command(subcommand, hide = true)]
    Dev(DevCommand),
}

#[derive(Subcommand)]
enum DevCommand {
    /// Create many scoped keys fast, straight through the store (benchmarks).
    /// Each may read `balances` of the organization's first account. Writes
    /// `client_id api_key` lines for the first `--reveal` keys to `--keys-out`.
    SeedKeys {
        #[command(flatten)]
        data: DataArgs,
        #[arg(long)]
        org_id: String,
        #[arg(long)]
        count: u64,
        /// How many of the new keys to write to `--keys-out` (with their secrets).
        #[arg(long, default_value_t = 0)]
        reveal: u64,
        #[arg(long)]
        keys_out: Option<std::path::PathBuf>,
    },
    /// Serve the bare-HTTP ceiling, the login and verify floors, and a trivial upstream.
    Hello {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: std::net::SocketAddr,
        /// Where `/floor/proxy` forwards to.
        #[arg(long)]
        upstream: Option<String>,
    },
    /// Print the default resource catalog as a Markdown table.
    CatalogTable,
    /// Write the reference pages made from the code (`cli.md`, `catalog.md`)
    /// into DIR (docs/reference).
    Reference { dir: std::path::PathBuf },
    /// Print `--count` fresh tokens for the keys in `--keys` (never-seen-token runs).
    MintTokens {
        #[command(flatten)]
        data: DataArgs,
        #[arg(long)]
        keys: std::path::PathBuf,
        #[arg(long)]
        count: usize,
    },
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Create an organization, its accounts and its owner; prints their ids as JSON.
    Create {
        #[command(flatten)]
        data: DataArgs,
        /// The organization's name, as shown in the Developer app.
        #[arg(long)]
        name: String,
        /// Email address of the owner, who signs in with it.
        #[arg(long)]
        owner_email: String,
        /// Read the new owner's password from standard input (first line).
        #[arg(long, required_unless_present = "existing_owner")]
        owner_password_stdin: bool,
        /// The owner email already has an account: make that account the
        /// owner; its password stays as it is. Without it, such an email is
        /// refused (exit 2).
        #[arg(long, conflicts_with = "owner_password_stdin")]
        existing_owner: bool,
        /// An account to create; repeat for several.
        #[arg(long = "account")]
        accounts: Vec<String>,
    },
    /// Change an organization's settings; prints them as JSON.
    Set {
        #[command(flatten)]
        data: DataArgs,
        /// The organization's id (org_…).
        #[arg(long)]
        org: String,
        /// What a live key reported leaked (secret scanning) does: `revoke`
        /// deletes it (the default), `notify` marks it exposed and keeps it.
        #[arg(long)]
        on_leak: String,
    },
    /// Invite someone into an organization; prints the invitation link (also
    /// mailed by a running server), for operators without mail.
    Invite {
        #[command(flatten)]
        data: DataArgs,
        /// The organization's id (org_…).
        #[arg(long)]
        org: String,
        #[arg(long)]
        email: String,
        /// admin, developer, analyst or viewer.
        #[arg(long)]
        role: String,
        /// The base of the printed link (as `serve --public-url`); default
        /// http://127.0.0.1:8080.
        #[arg(long, env = "KEYGATE_PUBLIC_URL")]
        public_url: Option<String>,
    },
}

#[derive(Subcommand)]
enum SecretsCommand {
    /// Print a fresh `KEYGATE_PEPPER=…` and `KEYGATE_SIGNING_KEYS=…` (new on
    /// every run). Every instance on one database needs the same two values.
    Generate,
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

/// The `keygate` command as clap describes it: for the reference pages and
/// the test that parses every command line of the docs.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Serve(_)) {
        malloc::pin();
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e)
            if e.downcast_ref::<Refused>().is_some()
                || e.downcast_ref::<crate::gateway::RouteOverlap>().is_some() =>
        {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::serve(*args).await,
        Command::Secrets(SecretsCommand::Generate) => secrets::generate(),
        Command::Backup { data, to } => backup::backup(&data, &to).await,
        Command::Restore { data, from } => backup::restore(&data, &from).await,
        Command::Migrate { data } => migrate::run(&data).await,
        Command::Check(args) => check::run(&args).await,
        Command::Org(OrgCommand::Create {
            data,
            name,
            owner_email,
            owner_password_stdin: _,
            existing_owner,
            accounts,
        }) => {
            let mut password = String::new();
            if !existing_owner {
                std::io::stdin()
                    .read_to_string(&mut password)
                    .context("reading the owner's password from standard input")?;
            }
            let password = password.lines().next().unwrap_or("").to_owned();
            let owner = if existing_owner {
                orgs::Owner::Existing
            } else {
                orgs::Owner::New {
                    password: &password,
                }
            };
            let store = data.open_store().await?;
            let created = orgs::create_org(store.as_ref(), &name, &owner_email, owner, &accounts)
                .await
                .map_err(refused)?;
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
        Command::Org(OrgCommand::Set { data, org, on_leak }) => {
            let store = data.open_store().await?;
            let on_leak = key_policy::set_on_leak_as_operator(store.as_ref(), &org, &on_leak)
                .await
                .map_err(refused)?;
            println!(
                "{}",
                serde_json::json!({"org_id": org, "on_leak": on_leak.as_str()})
            );
            Ok(())
        }
        Command::Org(OrgCommand::Invite {
            data,
            org,
            email,
            role,
            public_url,
        }) => {
            let store = data.open_store().await?;
            let pepper = crate::state::secrets::load_pepper(
                &data.data_dir,
                std::env::var("KEYGATE_PEPPER").ok().as_deref(),
            )?;
            let public_url = public_url.unwrap_or_else(|| "http://127.0.0.1:8080".into());
            let ctx = invitations::Ctx {
                store: store.as_ref(),
                pepper: &pepper,
                public_url: public_url.trim_end_matches('/'),
            };
            let invited = invitations::invite_as_operator(&ctx, &org, &email, &role)
                .await
                .map_err(refused)?;
            // The link goes to standard output only, on purpose: it is what
            // the operator asked for. It is never logged.
            println!("{}", invited.link);
            Ok(())
        }
        Command::Operator(c) => operator::run(c).await.map_err(refused_anyhow),
        Command::Audit(c) => audit::run(c).await,
        Command::Keys(KeysCommand::RotateSigningKey { data }) => {
            crate::state::data_dir::prepare(&data.data_dir, "")?;
            let kid = crate::state::secrets::rotate_signing_key(&data.data_dir)?;
            println!("{}", serde_json::json!({"kid": kid}));
            Ok(())
        }
        Command::Dev(DevCommand::SeedKeys {
            data,
            org_id,
            count,
            reveal,
            keys_out,
        }) => seed_keys(&data, &org_id, count, reveal, keys_out.as_deref()).await,
        Command::Dev(DevCommand::Hello { listen, upstream }) => {
            crate::cmd::dev::hello(listen, upstream).await
        }
        Command::Dev(DevCommand::CatalogTable) => {
            print!(
                "{}",
                keygate_core::Catalog::default_catalog().markdown_table()
            );
            Ok(())
        }
        Command::Dev(DevCommand::Reference { dir }) => reference::write(&dir),
        Command::Dev(DevCommand::MintTokens { data, keys, count }) => {
            crate::cmd::dev::mint_tokens(&data, &keys, count).await
        }
    }
}

async fn seed_keys(
    data: &DataArgs,
    org_id: &str,
    count: u64,
    reveal: u64,
    keys_out: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    use keygate_core::permission::{AccountPermissions, AccountSelection, KeyScope, PermSet};
    use keygate_core::{Access, ApiKey, ClientId, OrgId};
    use keygate_store::{KeyKind, KeyRecord};
    use std::io::Write as _;

    let org_id = OrgId::parse(org_id).map_err(|_| anyhow::anyhow!("--org-id is not an org id"))?;
    let store = data.open_store().await?;
    let pepper = crate::state::secrets::load_pepper(
        &data.data_dir,
        std::env::var("KEYGATE_PEPPER").ok().as_deref(),
    )?;
    let account = store
        .accounts(&org_id)
        .await?
        .into_iter()
        .next()
        .context("the organization has no account")?;
    let scope = KeyScope::Scoped {
        org_permissions: PermSet::default(),
        account_permissions: AccountPermissions {
            accounts: AccountSelection::Some([account.account_id].into_iter().collect()),
            resources: PermSet::from(vec![keygate_core::permission::Permission {
                resource: "balances".into(),
                access: Access::Read,
            }]),
        },
    };
    let mut out = match keys_out {
        Some(p) => Some(std::io::BufWriter::new(std::fs::File::create(p)?)),
        None => None,
    };
    let started = std::time::Instant::now();
    let now = crate::state::clock::now_ms();
    let mut done = 0u64;
    while done < count {
        let n = (count - done).min(20_000);
        let mut batch = Vec::with_capacity(n as usize);
        for i in 0..n {
            let key = ApiKey::generate("live");
            let client_id = ClientId::generate();
            if let Some(out) = out.as_mut()
                && done + i < reveal
            {
                writeln!(out, "{client_id} {}", key.expose())?;
            }
            batch.push(KeyRecord {
                client_id,
                org_id: org_id.clone(),
                kind: KeyKind::Scoped,
                owner_id: None,
                name: format!("seed-{}", done + i),
                secret_hash: pepper.digest(key.expose().as_bytes()),
                generation: 1,
                scope: scope.clone(),
                rate_limit: None,
                expires_at: None,
                previous_secret: None,
                allowed_networks: Default::default(),
                require_dpop: false,
                federation: Default::default(),
                created_at: now,
                updated_at: now,
                exposed_at: None,
                credits: None,
            });
        }
        let event = crate::state::audit::Actor::default().event(
            Some(&org_id),
            "scoped_key.seeded",
            None,
            serde_json::json!({"count": n}),
        );
        store.insert_keys(&batch, &event).await?;
        done += n;
    }
    if let Some(mut out) = out {
        out.flush()?;
    }
    println!(
        "{}",
        serde_json::json!({"created": count, "seconds": started.elapsed().as_secs_f64()})
    );
    Ok(())
}

/// A service error for the terminal: bad input, conflicts and missing objects
/// exit with 2 (the caller can fix them), anything else with 1.
fn refused(e: service::Error) -> anyhow::Error {
    use service::Error as E;
    match e {
        E::Invalid { .. } | E::Conflict(_) | E::NotFound | E::NotAllowed(_) => {
            anyhow::Error::new(Refused(describe(e)))
        }
        other => anyhow::anyhow!(describe(other)),
    }
}

/// A CLI action's error, with service errors as `refused` would show them.
fn refused_anyhow(e: operator::CliError) -> anyhow::Error {
    match e {
        operator::CliError::Service(e) => refused(e),
        operator::CliError::Other(e) => e,
    }
}

/// A service error as one line for the terminal.
fn describe(e: service::Error) -> String {
    use service::Error as E;
    match e {
        E::Invalid { field, message } => format!("{field}: {message}"),
        E::Conflict(m) => m,
        E::NotFound => "no such object".to_owned(),
        E::NotAllowed(m) => m.to_owned(),
        E::Unavailable(m) => format!("database unavailable: {m}"),
        E::Internal(m) => format!("internal error: {m}"),
        other => format!("{other:?}"),
    }
}
