//! The two secrets that live outside the database: the pepper for API key
//! digests and the token-signing keys. Each is an environment variable or a
//! 0600 file in the data dir, created on first start. Instances that share a
//! database must share these (the same data dir, or the same variables).

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, bail};
use keygate_core::crypto::{Pepper, hex, random_bytes, unhex};
use keygate_core::token::{TokenKey, TokenKeys};

pub const PEPPER_FILE: &str = "pepper";
pub const SIGNING_KEYS_FILE: &str = "signing-keys";
/// How many signing keys a rotation keeps: the new one and the one before it,
/// whose tokens stay valid until they expire.
const KEPT_SIGNING_KEYS: usize = 2;

/// `KEYGATE_PEPPER` (at least 32 characters) or `<data dir>/pepper`.
pub fn load_pepper(data_dir: &Path, from_env: Option<&str>) -> anyhow::Result<Pepper> {
    let text = match from_env {
        Some(v) => v.trim().to_owned(),
        None => read_or_create(&data_dir.join(PEPPER_FILE), new_pepper)?,
    };
    if text.len() < 32 {
        bail!("the pepper must be at least 32 characters long");
    }
    Ok(Pepper::new(text.as_bytes()))
}

/// `KEYGATE_SIGNING_KEYS` or `<data dir>/signing-keys`: one `<hex seed>` per
/// line, oldest first; the last line signs new tokens.
pub fn load_signing_keys(data_dir: &Path, from_env: Option<&str>) -> anyhow::Result<TokenKeys> {
    let text = match from_env {
        Some(v) => v.to_owned(),
        None => read_or_create(&data_dir.join(SIGNING_KEYS_FILE), new_seed_line)?,
    };
    parse_signing_keys(&text)
}

pub fn parse_signing_keys(text: &str) -> anyhow::Result<TokenKeys> {
    let mut keys = Vec::new();
    for line in text
        .split([',', '\n'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        let seed: [u8; 32] = unhex(line)
            .and_then(|b| b.try_into().ok())
            .context("a signing key must be 64 hex characters")?;
        keys.push(TokenKey::from_seed(seed));
    }
    TokenKeys::new(keys).context("no signing key configured")
}

/// Adds a new signing key to the data dir's file, keeping the previous one.
/// Returns the new key's id.
pub fn rotate_signing_key(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join(SIGNING_KEYS_FILE);
    let old = read_or_create(&path, new_seed_line)?;
    let mut lines: Vec<String> = old
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    lines.push(new_seed_line());
    let keep = lines.split_off(lines.len().saturating_sub(KEPT_SIGNING_KEYS));
    let text = keep.join("\n") + "\n";
    let keys = parse_signing_keys(&text)?;
    let tmp = path.with_extension("new");
    write_private(&tmp, &text)?;
    fs::rename(&tmp, &path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(keys.current_kid().to_owned())
}

/// A fresh pepper: 32 random bytes in hex.
pub fn new_pepper() -> String {
    hex(&random_bytes::<32>())
}

/// A fresh signing key's seed: 32 random bytes in hex.
pub fn new_seed_line() -> String {
    hex(&random_bytes::<32>())
}

/// The variables serve reads, as `NAME=value` lines (a shell, systemd's
/// `EnvironmentFile=` and `docker --env-file` all read them): the pepper, and
/// the signing keys comma-separated, oldest first. A `None` is left out.
pub fn env_lines(pepper: Option<&str>, signing_keys: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(p) = pepper {
        out.push_str(&format!("KEYGATE_PEPPER={}\n", p.trim()));
    }
    if let Some(k) = signing_keys {
        let keys: Vec<&str> = k
            .split([',', '\n'])
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        out.push_str(&format!("KEYGATE_SIGNING_KEYS={}\n", keys.join(",")));
    }
    out
}

/// The pepper and the signing keys (one per line, as the data dir's file
/// holds them) of `env_lines` text.
pub fn parse_env_lines(text: &str) -> (Option<String>, Option<String>) {
    let (mut pepper, mut keys) = (None, None);
    for line in text.lines() {
        let line = line.trim();
        let line = line.strip_prefix("export ").unwrap_or(line);
        if let Some(v) = line.strip_prefix("KEYGATE_PEPPER=") {
            pepper = Some(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("KEYGATE_SIGNING_KEYS=") {
            let lines: Vec<&str> = v.split(',').map(str::trim).collect();
            keys = Some(lines.join("\n"));
        }
    }
    (pepper, keys)
}

/// Writes a new owner-only (0600) file; an existing one is an error.
pub fn create_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

fn read_or_create(path: &Path, make: impl FnOnce() -> String) -> anyhow::Result<String> {
    if let Ok(text) = fs::read_to_string(path) {
        let mode = fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            bail!(
                "{} must be readable by its owner only (chmod 600)",
                path.display()
            );
        }
        return Ok(text.trim().to_owned());
    }
    let value = make();
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut f) => {
            f.write_all(format!("{value}\n").as_bytes())?;
            f.sync_all()?;
            Ok(value)
        }
        // Another instance created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok(fs::read_to_string(path)?.trim().to_owned())
        }
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
}
