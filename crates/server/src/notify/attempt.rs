//! How one delivery attempt ended, for the delivery log.

/// An answer that counts as delivered.
#[derive(Debug)]
pub struct Sent {
    pub status_code: Option<u16>,
}

/// Why an attempt failed, for the delivery log. Never holds a secret.
#[derive(Debug)]
pub struct Failure {
    pub status_code: Option<u16>,
    pub error: String,
}

impl Failure {
    pub fn new(status_code: Option<u16>, error: impl Into<String>) -> Failure {
        let mut error: String = error.into();
        error.truncate(300);
        Failure { status_code, error }
    }
}
