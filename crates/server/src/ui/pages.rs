//! The pages: askama templates (checked at compile time, HTML-escaped) and the
//! small view models they show.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use keygate_core::time::format_rfc3339;
use keygate_core::{OrgId, Role};

use crate::middleware::access::CurrentUser;
use crate::service::{Error, orgs};
use crate::ui::Pages;

/// Renders a template; a template error is an internal error (logged, trace id shown).
pub fn render<T: Template>(t: &T) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            let trace_id = Error::Internal(format!("template: {e}")).trace();
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html(format!(
                    "<!doctype html><title>Error</title><p>Internal error. Trace id: {}</p>",
                    trace_id.unwrap_or_default()
                )),
            )
                .into_response()
        }
    }
}

pub fn render_status<T: Template>(status: StatusCode, t: &T) -> Response {
    let mut r = render(t);
    if r.status() == StatusCode::OK {
        *r.status_mut() = status;
    }
    r
}

/// `26 Nov 2026, 20:51 UTC`.
pub fn when(ms: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let s = format_rfc3339(ms);
    let month = s[5..7].parse::<usize>().unwrap_or(1).clamp(1, 12);
    let day = s[8..10].trim_start_matches('0');
    format!(
        "{day} {} {}, {} UTC",
        MONTHS[month - 1],
        &s[..4],
        &s[11..16]
    )
}

/// A time for a table cell: the date, and the time below it.
pub struct Stamp {
    pub date: String,
    pub time: String,
}

pub fn stamp(ms: i64) -> Stamp {
    let full = when(ms);
    let (date, time) = full.split_once(", ").unwrap_or((&full, ""));
    Stamp {
        date: date.to_owned(),
        time: time.to_owned(),
    }
}

pub fn role_label(r: Role) -> &'static str {
    match r {
        Role::Owner => "Owner",
        Role::Admin => "Admin",
        Role::Developer => "Developer",
        Role::Analyst => "Analyst",
        Role::Viewer => "Viewer",
    }
}

/// `payment_intents` → `Payment intents`.
pub fn humanize(name: &str) -> String {
    let spaced = name.replace('_', " ");
    let mut c = spaced.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

pub struct OrgLink {
    pub org_id: String,
    pub name: String,
    pub current: bool,
}

/// What every signed-in page shows around its content.
pub struct Shell {
    pub email: String,
    pub org_id: String,
    pub org_name: String,
    pub role: &'static str,
    pub orgs: Vec<OrgLink>,
    pub csrf: String,
    pub nav: &'static str,
    pub keys: bool,
    pub manage: bool,
    /// Why the operator suspended the organization (while it is): a banner
    /// on every page.
    pub suspended: Option<String>,
}

impl Shell {
    pub async fn load<S>(
        app: &Pages,
        me: &CurrentUser<S>,
        org_id: &OrgId,
        role: Role,
        nav: &'static str,
    ) -> Result<Shell, Error> {
        let memberships = orgs::memberships(app, &me.user.user_id).await?;
        let org_name = memberships
            .iter()
            .find(|m| &m.org_id == org_id)
            .map(|m| m.org_name.clone())
            .unwrap_or_default();
        let suspended = crate::service::operator::suspension(app, org_id)
            .await?
            .map(|s| s.reason);
        Ok(Shell {
            email: me.user.email.clone(),
            org_id: org_id.to_string(),
            org_name,
            role: role_label(role),
            orgs: memberships
                .iter()
                .map(|m| OrgLink {
                    org_id: m.org_id.to_string(),
                    name: m.org_name.clone(),
                    current: &m.org_id == org_id,
                })
                .collect(),
            csrf: app.forms.issue(&me.session_hash.to_hex()),
            nav,
            keys: role.can_manage_keys(),
            manage: role.can_manage_org(),
            suspended,
        })
    }

    pub fn base(&self) -> String {
        format!("/app/orgs/{}/settings", self.org_id)
    }

    pub fn keys_url(&self) -> String {
        format!("/app/orgs/{}/settings/developer/api-keys", self.org_id)
    }
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub title: String,
    pub message: String,
    pub trace_id: Option<String>,
}

#[derive(Template)]
#[template(path = "sign_in.html")]
pub struct SignInPage {
    pub csrf: String,
    pub email: String,
    pub error: Option<String>,
    pub notice: Option<&'static str>,
}

/// The second page of sign-in, for users with two-factor on.
#[derive(Template)]
#[template(path = "sign_in_code.html")]
pub struct SignInCodePage {
    pub csrf: String,
    pub challenge: String,
    pub error: Option<String>,
}

/// An organization that requires two-factor, to a member without it.
#[derive(Template)]
#[template(path = "two_factor_required.html")]
pub struct TwoFactorRequiredPage;

#[derive(Template)]
#[template(path = "settings.html")]
pub struct SettingsPage {
    pub shell: Shell,
    pub accounts: usize,
    pub notice: Option<&'static str>,
    /// The organization's default rate limit in words, or "None".
    pub rate_limit: String,
    /// Its form (owners): the fields, and a wrong password.
    pub limit: crate::ui::rate_limit::LimitFields,
    pub password_error: Option<String>,
}

pub struct KeyInfo {
    pub client_id: String,
    pub created: Stamp,
    pub updated: Stamp,
    /// As of the last flush of the usage recorder.
    pub last_used: Option<Stamp>,
    /// Reported leaked (the organization notifies instead of revoking).
    pub exposed: bool,
    pub lifecycle: Lifecycle,
    /// Its expiry, allowlist and rate limit as the Regenerate dialog starts.
    pub terms: crate::ui::key_terms::TermsFields,
}

/// A key's expiry and grace period, as the list shows them.
pub struct Lifecycle {
    /// "Expired 12 May 2026, 09:30 UTC" or "Expires …"; `None`: never expires.
    pub expiry: Option<String>,
    pub expired: bool,
    /// "Old secret works until …" while a grace period lasts.
    pub grace: Option<String>,
}

impl Lifecycle {
    pub fn of(k: &keygate_store::KeyRecord, now: i64) -> Lifecycle {
        let expired = k.expires_at.is_some_and(|t| t <= now);
        Lifecycle {
            expiry: k.expires_at.map(|t| {
                format!(
                    "{} {}",
                    if expired { "Expired" } else { "Expires" },
                    when(t)
                )
            }),
            expired,
            grace: k
                .previous_secret
                .filter(|p| p.expires_at > now && !expired)
                .map(|p| format!("Old secret works until {}", when(p.expires_at))),
        }
    }
}

pub struct AdminRow {
    pub level: &'static str,
    pub name: String,
    pub owner_id: String,
    pub key: Option<KeyInfo>,
}

pub struct ScopedRow {
    pub name: String,
    pub client_id: String,
    pub org_scope: String,
    pub account_scope: String,
    pub created: Stamp,
    pub updated: Stamp,
    pub last_used: Option<Stamp>,
    /// Reported leaked (the organization notifies instead of revoking).
    pub exposed: bool,
    pub lifecycle: Lifecycle,
}

#[derive(Template)]
#[template(path = "api_keys.html")]
pub struct ApiKeysPage {
    pub shell: Shell,
    pub notice: Option<&'static str>,
    pub admin: Vec<AdminRow>,
    pub scoped: Vec<ScopedRow>,
    /// Keys that break the organization's key policy (set after they were made).
    pub breaking: Vec<PolicyWarning>,
    /// The empty key fields of the password dialog (admin keys' Generate and
    /// Regenerate; app.js fills in a key's values).
    pub terms: crate::ui::key_terms::TermsFields,
}

pub struct PolicyWarning {
    pub name: String,
    pub client_id: String,
    pub why: String,
}

/// The password prompt before an action (a page; JavaScript shows the same
/// form in a dialog on the list).
#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    pub shell: Shell,
    pub title: String,
    pub body: String,
    pub action: String,
    pub button: &'static str,
    pub danger: bool,
    pub hidden: Vec<(String, String)>,
    pub back: String,
    pub back_label: &'static str,
    /// Regenerate: the choice of grace period, with the one selected.
    pub grace: Option<String>,
    /// An admin key's Generate and Regenerate: expiry, allowlist, rate limit.
    pub terms: Option<crate::ui::key_terms::TermsFields>,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "reveal.html")]
pub struct RevealPage {
    pub shell: Shell,
    pub title: &'static str,
    pub name: String,
    pub client_id: String,
    pub api_key: String,
}

pub struct PermRow {
    pub name: String,
    pub label: String,
    pub description: String,
    pub read: bool,
    pub write: bool,
}

pub struct AccountOption {
    pub account_id: String,
    pub name: String,
    pub checked: bool,
}

/// The new / edit scoped key form, with its values and errors.
pub struct KeyForm {
    pub heading: String,
    pub action: String,
    pub submit: &'static str,
    pub name: String,
    pub org: Vec<PermRow>,
    pub account: Vec<PermRow>,
    pub accounts: Vec<AccountOption>,
    pub all_accounts: bool,
    pub error: Option<String>,
    pub name_error: Option<String>,
    pub org_error: Option<String>,
    pub account_error: Option<String>,
    pub password_error: Option<String>,
    /// Expiry, allowlist and rate limit: the fields an admin key's Generate
    /// and Regenerate offer too, with their errors.
    pub terms: crate::ui::key_terms::TermsFields,
}

impl KeyForm {
    pub fn accounts_summary(&self) -> String {
        if self.all_accounts {
            return "All accounts".into();
        }
        let names: Vec<&str> = self
            .accounts
            .iter()
            .filter(|a| a.checked)
            .map(|a| a.name.as_str())
            .collect();
        if names.is_empty() {
            "Select accounts".into()
        } else {
            names.join(", ")
        }
    }
}

#[derive(Template)]
#[template(path = "key_form.html")]
pub struct KeyFormPage {
    pub shell: Shell,
    pub form: KeyForm,
}

pub struct AuditRow {
    pub when: String,
    pub action: String,
    pub actor: String,
    pub client_id: String,
    pub key_name: String,
    pub ip: String,
    pub details: String,
}

pub struct KeyChoice {
    pub client_id: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "audit.html")]
pub struct AuditPage {
    pub shell: Shell,
    pub keys: Vec<KeyChoice>,
    pub filter: String,
    pub rows: Vec<AuditRow>,
    pub next: Option<String>,
}

pub struct MemberRow {
    pub user_id: String,
    pub email: String,
    pub role: &'static str,
    pub role_value: &'static str,
    pub owner: bool,
    pub me: bool,
    pub joined: String,
    /// Whether the member has two-factor sign-in on.
    pub two_factor: bool,
}

pub struct InvitationRow {
    pub invitation_id: String,
    pub email: String,
    pub role: &'static str,
    /// The inviter's email, or "An operator" (`keygate org invite`).
    pub invited_by: String,
    pub expires: String,
}

#[derive(Template)]
#[template(path = "members.html")]
pub struct MembersPage {
    pub shell: Shell,
    pub notice: Option<&'static str>,
    pub rows: Vec<MemberRow>,
    pub invitations: Vec<InvitationRow>,
    pub error: Option<String>,
    pub password_error: Option<String>,
    pub email: String,
}

pub struct AccountRow {
    pub account_id: String,
    pub name: String,
    pub created: String,
}

#[derive(Template)]
#[template(path = "accounts.html")]
pub struct AccountsPage {
    pub shell: Shell,
    pub notice: Option<&'static str>,
    pub rows: Vec<AccountRow>,
    pub error: Option<String>,
    pub password_error: Option<String>,
    pub name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_like_a_person_writes_them() {
        // 2026-05-02T07:05:00Z
        assert_eq!(when(1_777_705_500_000), "2 May 2026, 07:05 UTC");
    }

    #[test]
    fn resource_names_become_labels() {
        assert_eq!(humanize("payment_intents"), "Payment intents");
        assert_eq!(humanize(""), "");
    }
}

#[derive(Template)]
#[template(path = "invitation.html")]
pub struct InvitationPage {
    pub csrf: String,
    pub action: String,
    pub org_name: String,
    pub role: &'static str,
    pub email: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "reset_request.html")]
pub struct ResetRequestPage {
    pub csrf: String,
    pub sent: bool,
}

#[derive(Template)]
#[template(path = "reset.html")]
pub struct ResetPage {
    pub csrf: String,
    pub action: String,
    pub email: String,
    pub error: Option<String>,
}

pub struct SessionRow {
    pub session_id: String,
    pub created: String,
    pub last_seen: String,
    pub ip: String,
    pub user_agent: String,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "security.html")]
pub struct SecurityPage {
    pub email: String,
    pub csrf: String,
    pub sessions: Vec<SessionRow>,
    pub notice: Option<&'static str>,
    pub error: Option<String>,
}

/// One key's page: what it is, its last use, its calls.
#[derive(Template)]
#[template(path = "key.html")]
pub struct KeyPage {
    pub shell: Shell,
    pub name: String,
    pub client_id: String,
    pub kind: &'static str,
    pub created: String,
    pub updated: String,
    pub last_used: Option<(String, String)>,
    /// When the key stops working (`None`: never), whether that has passed,
    /// and the grace of a replaced secret.
    pub expires: Option<String>,
    pub expired: bool,
    pub grace: Option<String>,
    /// Its own limit in words, else the organization default's, else "None".
    pub rate_limit: String,
    /// Empty: any network.
    pub networks: Vec<String>,
    /// When its secret was reported leaked (it still works).
    pub exposed: Option<String>,
    pub flush_secs: u64,
    /// Scoped keys: Edit; admin keys: Edit rate limit.
    pub edit: (String, &'static str),
    pub notice: Option<&'static str>,
    pub chart: crate::ui::chart::Chart,
}

pub struct TopKeyRow {
    pub name: String,
    pub client_id: String,
    pub url: String,
    pub allowed: u64,
    pub refused: u64,
    pub last_used: String,
}

pub struct ReasonRow {
    pub reason: &'static str,
    pub meaning: &'static str,
    pub count: u64,
    pub share: String,
}

/// The organization's usage: calls per day, top keys, refusals by reason.
#[derive(Template)]
#[template(path = "usage.html")]
pub struct UsagePage {
    pub shell: Shell,
    pub chart: crate::ui::chart::Chart,
    pub top: Vec<TopKeyRow>,
    pub reasons: Vec<ReasonRow>,
    pub flush_secs: u64,
}
