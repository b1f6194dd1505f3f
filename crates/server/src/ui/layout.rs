//! What every page shares: rendering a template (askama: checked at compile
//! time, HTML-escaped), the frame and navigation around signed-in pages
//! (`Shell`), and the small formatters of times, roles and names. Each page's
//! own model sits beside the handler that fills it, in `routes/`.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use keygate_core::time::format_rfc3339;
use keygate_core::{OrgId, Role};
use keygate_store::Membership;

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

/// `payment_intents` → `Payment intents`, `fx_quotes` → `FX quotes`.
pub fn humanize(name: &str) -> String {
    const ACRONYMS: [&str; 10] = [
        "api", "fx", "id", "ip", "kyc", "url", "iban", "vat", "sms", "otp",
    ];
    let spaced = name
        .split('_')
        .map(|w| {
            if ACRONYMS.contains(&w) {
                w.to_uppercase()
            } else {
                w.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
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
        let suspended = crate::service::operator::suspension(app, org_id)
            .await?
            .map(|s| s.reason);
        let mut shell = Shell::of(app, me, &memberships, Some((org_id, role)), nav);
        shell.suspended = suspended;
        Ok(shell)
    }

    /// The frame of a page of the user's own (Security, two-factor): the
    /// same top bar and sidebar, around the organization `/app` opens first,
    /// or around no organization at all for someone who belongs to none.
    pub async fn personal<S>(
        app: &Pages,
        me: &CurrentUser<S>,
        nav: &'static str,
    ) -> Result<Shell, Error> {
        let memberships = orgs::memberships(app, &me.user.user_id).await?;
        let first = memberships.first().map(|m| (&m.org_id, m.role));
        Ok(Shell::of(app, me, &memberships, first, nav))
    }

    fn of<S>(
        app: &Pages,
        me: &CurrentUser<S>,
        memberships: &[Membership],
        org: Option<(&OrgId, Role)>,
        nav: &'static str,
    ) -> Shell {
        let org_id = org.map(|(id, _)| id);
        let org_name = memberships
            .iter()
            .find(|m| Some(&m.org_id) == org_id)
            .map(|m| m.org_name.clone())
            .unwrap_or_default();
        Shell {
            email: me.user.email.clone(),
            org_id: org_id.map(|o| o.to_string()).unwrap_or_default(),
            org_name,
            role: org.map_or("", |(_, r)| role_label(r)),
            orgs: memberships
                .iter()
                .map(|m| OrgLink {
                    org_id: m.org_id.to_string(),
                    name: m.org_name.clone(),
                    current: Some(&m.org_id) == org_id,
                })
                .collect(),
            csrf: app.forms.issue(&me.session_hash.to_hex()),
            nav,
            keys: org.is_some_and(|(_, r)| r.can_manage_keys()),
            manage: org.is_some_and(|(_, r)| r.can_manage_org()),
            suspended: None,
        }
    }

    /// Whether the page is about an organization (empty for a user who
    /// belongs to none).
    pub fn has_org(&self) -> bool {
        !self.org_id.is_empty()
    }

    /// Whether the page is one of the user's own rather than the organization's.
    pub fn is_personal(&self) -> bool {
        matches!(self.nav, "security" | "two-factor")
    }

    pub fn base(&self) -> String {
        format!("/app/orgs/{}/settings", self.org_id)
    }

    pub fn keys_url(&self) -> String {
        format!("/app/orgs/{}/settings/developer/api-keys", self.org_id)
    }
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
        assert_eq!(humanize("fx_quotes"), "FX quotes");
        assert_eq!(humanize("owner_id"), "Owner ID");
        assert_eq!(humanize(""), "");
    }
}
