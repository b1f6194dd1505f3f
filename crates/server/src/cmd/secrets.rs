//! `keygate secrets generate`: a fresh pepper and signing key for a deployment
//! that passes them in the environment instead of the data dir's files.

use crate::state::secrets;

/// Prints `KEYGATE_PEPPER=…` and `KEYGATE_SIGNING_KEYS=…`, new on every run,
/// in the form `serve` reads them. Every instance on one database needs the
/// same values.
pub fn generate() -> anyhow::Result<()> {
    let pepper = secrets::new_pepper();
    let signing_key = secrets::new_seed_line();
    // The values must parse as serve parses them.
    secrets::parse_signing_keys(&signing_key)?;
    print!("{}", secrets::env_lines(Some(&pepper), Some(&signing_key)));
    Ok(())
}
