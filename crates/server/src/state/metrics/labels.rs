//! The label values of the metrics: one enum per label, and the names the
//! exposition shows, in the enum's order (a value's index is its handle's).

/// What became of one key login (`POST /api/v1/authentication/login`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    Success,
    /// Bad client id or key (the one 401).
    Unauthorized,
    /// `login_as_not_allowed`.
    LoginAsRefused,
    RateLimited,
    /// The credential cache could not be trusted (503).
    Unavailable,
    Error,
}

pub(super) const LOGINS: [&str; 6] = [
    "success",
    "unauthorized",
    "login_as_refused",
    "rate_limited",
    "unavailable",
    "error",
];

impl Login {
    /// By the status of the login's answer.
    pub fn of_status(status: u16) -> Login {
        match status {
            200..=299 => Login::Success,
            401 => Login::Unauthorized,
            403 => Login::LoginAsRefused,
            429 => Login::RateLimited,
            503 => Login::Unavailable,
            _ => Login::Error,
        }
    }
}

/// Where a token was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// The built-in reverse proxy, `/api/**`.
    Gateway,
    /// `/auth/verify` and `/auth/nginx`.
    Nginx,
    /// `/auth/traefik`.
    Traefik,
    /// `/auth/envoy/**`.
    Envoy,
    /// `POST /oauth/introspect`.
    Introspection,
}

pub(super) const SURFACES: [&str; 5] = [
    "gateway",
    "forward_auth_nginx",
    "forward_auth_traefik",
    "forward_auth_envoy",
    "introspection",
];

/// What became of one token check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Allowed (introspection: the token is active).
    Allowed,
    /// No, a bad or expired token, or a revoked key (introspection: inactive).
    Unauthenticated,
    /// The token's scope does not allow the request (introspection: the
    /// caller's own Basic credentials were refused, or introspection is off).
    Forbidden,
    /// Over the key's request limit (429).
    RateLimited,
    /// The request itself was malformed: a missing header, a bad method or path.
    Invalid,
    /// The credential cache could not be trusted (503).
    Unavailable,
    Error,
}

pub(super) const CHECKS: [&str; 7] = [
    "allowed",
    "unauthenticated",
    "forbidden",
    "rate_limited",
    "invalid",
    "unavailable",
    "error",
];

/// Introspection names the same outcomes after RFC 7662.
pub(super) const INTROSPECTION_CHECKS: [&str; 7] = [
    "active",
    "inactive",
    "caller_refused",
    "rate_limited",
    "invalid",
    "unavailable",
    "error",
];

impl Check {
    /// By the status of Keygate's own answer (forward-auth answers, and the
    /// gateway's refusals; a proxied answer is the upstream's and counts as
    /// allowed, see `gateway::proxy`).
    pub fn of_status(status: u16) -> Check {
        match status {
            200..=399 => Check::Allowed,
            401 => Check::Unauthenticated,
            403 => Check::Forbidden,
            429 => Check::RateLimited,
            503 => Check::Unavailable,
            400..=499 => Check::Invalid,
            _ => Check::Error,
        }
    }
}

/// Which requests a duration is filed under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Login,
    Gateway,
    ForwardAuth,
    Introspection,
    /// The management API, `/dev/v1/**`.
    Management,
    /// The Developer app, `/app/**`.
    App,
    /// `/docs`, `/openapi.json`.
    Docs,
    /// `/healthz`, `/readyz`, `/.well-known/**`.
    Health,
    Other,
}

pub(super) const GROUPS: [&str; 9] = [
    "login",
    "gateway",
    "forward_auth",
    "introspection",
    "management",
    "app",
    "docs",
    "health",
    "other",
];

impl Group {
    pub fn of_path(path: &str) -> Group {
        if let Some(rest) = path.strip_prefix("/api/") {
            if rest == "v1/authentication/login" {
                Group::Login
            } else {
                Group::Gateway
            }
        } else if path.starts_with("/auth/") {
            Group::ForwardAuth
        } else if path.starts_with("/dev/") {
            Group::Management
        } else if path == "/app" || path.starts_with("/app/") {
            Group::App
        } else if path == "/oauth/introspect" {
            Group::Introspection
        } else if path.starts_with("/docs") || path == "/openapi.json" {
            Group::Docs
        } else if path == "/healthz" || path == "/readyz" || path.starts_with("/.well-known/") {
            Group::Health
        } else {
            Group::Other
        }
    }
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// A key's own request limit (gateway and forward-auth).
    Key,
    /// The limits on failed attempts: key logins, sign-ins, password
    /// confirmations, two-factor codes.
    FailedAttempts,
}

pub(super) const LIMITS: [&str; 2] = ["key", "failed_attempts"];

/// How a notification delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    /// Failed; tried again later.
    Retry,
    /// Failed for the last time.
    GaveUp,
}

pub(super) const DELIVERIES: [&str; 3] = ["delivered", "retry", "gave_up"];

/// Why a queued audit event (a failed login) was dropped unwritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditDrop {
    /// The queue held `--audit-queue-capacity` events the database had not
    /// taken yet.
    QueueFull,
    /// The database still refused them when the process stopped.
    Shutdown,
}

pub(super) const AUDIT_DROPS: [&str; 2] = ["queue_full", "shutdown"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_of_paths() {
        for (path, group) in [
            ("/api/v1/authentication/login", Group::Login),
            ("/api/v1/balances/current", Group::Gateway),
            ("/auth/verify", Group::ForwardAuth),
            ("/auth/envoy/api/x", Group::ForwardAuth),
            ("/oauth/introspect", Group::Introspection),
            ("/dev/v1/me", Group::Management),
            ("/app", Group::App),
            ("/app/keys", Group::App),
            ("/application", Group::Other),
            ("/docs/", Group::Docs),
            ("/openapi.json", Group::Docs),
            ("/readyz", Group::Health),
            ("/.well-known/jwks.json", Group::Health),
            ("/metrics", Group::Other),
        ] {
            assert_eq!(Group::of_path(path), group, "{path}");
        }
    }
}
