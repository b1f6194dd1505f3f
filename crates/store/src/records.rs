//! The values the store reads and writes, one file per area under `records/`
//! (organizations, people, keys, passkeys, usage, audit, deliveries), all
//! re-exported here: every record keeps its one path, `crate::KeyRecord`, ….

mod audit;
mod deliveries;
mod keys;
mod orgs;
mod passkeys;
mod people;
mod usage;

pub use audit::*;
pub use deliveries::*;
pub use keys::*;
pub use orgs::*;
pub use passkeys::*;
pub use people::*;
pub use usage::*;

/// One migration of the schema, as its file names it
/// (`migrations/<backend>/0010_leaked_previous_secret.sql`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub version: i64,
    /// The file name's words: `leaked previous secret`.
    pub description: String,
}

impl std::fmt::Display for Migration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04} {}", self.version, self.description)
    }
}
