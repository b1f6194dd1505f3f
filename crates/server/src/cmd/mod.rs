//! The `keygate` subcommands beside `serve`, one file each: `secrets
//! generate`, `backup` and `restore`, `migrate`, `check`. `cli.rs` parses the
//! command line and calls them.

pub mod backup;
pub mod check;
pub mod migrate;
pub mod secrets;

/// A refusal the caller can fix: exit code 2 and this sentence.
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// `Err` of a [`Refused`] with this sentence.
pub fn refuse<T>(sentence: impl Into<String>) -> anyhow::Result<T> {
    Err(anyhow::Error::new(Refused(sentence.into())))
}
