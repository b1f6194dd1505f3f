//! A refusal the caller can fix: `keygate` exits 2 with its sentence.

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
