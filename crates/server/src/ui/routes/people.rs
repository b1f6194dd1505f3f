//! Members, invitations and accounts (owner, admin). Every change asks for the
//! login password: a field of the invite/create forms, the key actions' dialog
//! (or a prompt page without JavaScript) for a member's or invitation's row.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use keygate_core::{OrgId, UserId};
use keygate_store::MemberRecord;

use crate::service::{Error, invitations, orgs};
use crate::ui::Pages;
use crate::ui::extract::{FormBody, OrgManager, OrgMember, PageError, see_other};
use crate::ui::form_errors::{FormErrors, sentence};
use crate::ui::layout::{Shell, render, render_status, role_label, when};
use crate::ui::routes::check_form;
use crate::ui::routes::confirm::{Prompt, confirmed, password_error};

pub struct MemberRow {
    pub user_id: String,
    pub email: String,
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
    /// The invite form's errors, and those of a row's action (no field).
    pub errors: FormErrors,
    pub email: String,
    pub role: String,
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
    pub errors: FormErrors,
    pub name: String,
}

/// An action whose failures other than the password's (a bad role, the
/// owner's row) are shown on the list page rather than in the prompt.
async fn failed_input<T>(
    action: impl Future<Output = Result<T, Error>>,
) -> Result<Result<T, Error>, Error> {
    match action.await {
        Err(e) if password_error(&e).is_some() => Err(e),
        other => Ok(other),
    }
}

type Manager = OrgMember<OrgManager>;

/// What a members or accounts page shows after a failed action.
#[derive(Default)]
struct Failed {
    errors: FormErrors,
    /// What the user typed, shown again (the email or the account's name;
    /// the role).
    value: String,
    role: String,
}

async fn members_page(
    app: &Pages,
    m: &Manager,
    notice: Option<&'static str>,
    failed: Failed,
) -> Result<MembersPage, PageError> {
    let shell = Shell::load(app, &m.current, &m.org_id, m.role, "members").await?;
    let rows = orgs::members(app, &m.org_id)
        .await?
        .iter()
        .map(|r| MemberRow {
            user_id: r.user_id.to_string(),
            email: r.email.clone(),
            role_value: r.role.as_str(),
            owner: r.role == keygate_core::Role::Owner,
            me: r.user_id == m.current.user.user_id,
            joined: when(r.created_at),
            two_factor: r.two_factor,
        })
        .collect();
    let invitations = invitations::pending(app, &m.org_id)
        .await?
        .iter()
        .map(|i| InvitationRow {
            invitation_id: i.invitation_id.to_string(),
            email: i.email.clone(),
            role: role_label(i.role),
            invited_by: match (&i.invited_by, &i.invited_by_email) {
                (None, _) => "An operator".to_owned(),
                (Some(_), Some(email)) => email.clone(),
                (Some(id), None) => id.to_string(),
            },
            expires: when(i.expires_at),
        })
        .collect();
    Ok(MembersPage {
        shell,
        notice,
        rows,
        invitations,
        errors: failed.errors,
        email: failed.value,
        role: if failed.role.is_empty() {
            "developer".to_owned()
        } else {
            failed.role
        },
    })
}

/// A failed action as a message for the page (a wrong password beside the
/// password field, a bad value beside its field, the rest on top); other
/// errors become an error page.
fn failure(e: Error, value: &str, fields: &[(&str, &str, &str)]) -> Result<Failed, PageError> {
    let mut errors = FormErrors::new();
    match e {
        Error::Conflict(m) => errors.add("", sentence(&m)),
        Error::NotAllowed(m) => errors.add("", sentence(m)),
        e => errors.place(e, fields)?,
    }
    Ok(Failed {
        errors,
        value: value.to_owned(),
        ..Failed::default()
    })
}

/// A member action that failed: the page again with the message.
async fn members_error(
    app: &Pages,
    m: &Manager,
    e: Error,
    email: &str,
) -> Result<Response, PageError> {
    let failed = failure(e, email, &[])?;
    let page = members_page(app, m, None, failed).await?;
    Ok(render_status(page.errors.status(), &page))
}

pub async fn members(
    State(app): State<Pages>,
    m: Manager,
    RawQuery(q): RawQuery,
) -> Result<Response, PageError> {
    let notice = match q.as_deref() {
        Some("done=invited") => Some("Invitation sent. The link works once, for 7 days."),
        Some("done=withdrawn") => Some("Invitation withdrawn."),
        Some("done=role") => Some("Role changed."),
        Some("done=removed") => Some("Member removed."),
        _ => None,
    };
    let page = members_page(&app, &m, notice, Failed::default()).await?;
    Ok(render(&page))
}

fn members_url(org: &OrgId) -> String {
    format!("/app/orgs/{org}/settings/members")
}

/// The invite form's fields: (the service's field, the input, its label).
const INVITE_FIELDS: &[(&str, &str, &str)] =
    &[("email", "email", "Email"), ("role", "role", "Role")];

/// Invites someone; the link goes by mail.
pub async fn invite(
    State(app): State<Pages>,
    m: Manager,
    form: FormBody,
) -> Result<Response, PageError> {
    check_form(&app, &m.current, &form)?;
    let email = form.get("email").unwrap_or("");
    let role = form.get("role").unwrap_or("");
    let password = form.get("password");
    let mut errors = FormErrors::new();
    errors.require(&form, "email", "Email: enter the email address to invite.");
    errors.require(
        &form,
        "password",
        "Your login password: enter it to confirm.",
    );
    if errors.is_empty() {
        match invitations::invite(&app, &m.acting(), email, role, password).await {
            Ok(_) => {
                return Ok(see_other(&format!(
                    "{}?done=invited",
                    members_url(&m.org_id)
                )));
            }
            Err(e) => errors = failure(e, email, INVITE_FIELDS)?.errors,
        }
    }
    let failed = Failed {
        errors,
        value: email.to_owned(),
        role: role.to_owned(),
    };
    let page = members_page(&app, &m, None, failed).await?;
    Ok(render_status(page.errors.status(), &page))
}

/// Withdraws a pending invitation (its link stops working).
pub async fn withdraw(
    State(app): State<Pages>,
    m: Manager,
    Path((_, id)): Path<(String, String)>,
    form: FormBody,
) -> Result<Response, PageError> {
    let prompt = Prompt {
        title: "Withdraw invitation".to_owned(),
        body: "The invitation link stops working at once.".to_owned(),
        action: format!("/app/orgs/{}/settings/invitations/{id}/withdraw", m.org_id),
        button: "Withdraw",
        danger: true,
        hidden: Vec::new(),
        back: (members_url(&m.org_id), "Members"),
        nav: "members",
        grace: None,
        terms: None,
    };
    let acting = m.acting();
    let action = invitations::withdraw(&app, &acting, &id, form.get("password"));
    match confirmed(&app, &m, &form, prompt, failed_input(action)).await {
        Ok(Ok(())) => Ok(see_other(&format!(
            "{}?done=withdrawn",
            members_url(&m.org_id)
        ))),
        Ok(Err(e)) => members_error(&app, &m, e, "").await,
        Err(page) => Ok(page),
    }
}

fn user_id(s: &str) -> Result<UserId, PageError> {
    UserId::parse(s).map_err(|_| Error::NotFound.into())
}

/// The password prompt for a change to one member (a dialog on the list).
fn member_prompt(m: &Manager, who: &MemberRecord, change: &str, button: &'static str) -> Prompt {
    let (action, title, body, danger) = match change {
        "remove" => (
            "remove",
            "Remove member".to_owned(),
            format!("{} loses access to this organization at once.", who.email),
            true,
        ),
        role => (
            "role",
            "Change role".to_owned(),
            format!("{} becomes {}.", who.email, role_name(role)),
            false,
        ),
    };
    Prompt {
        title,
        body,
        action: format!("{}/{}/{action}", members_url(&m.org_id), who.user_id),
        button,
        danger,
        hidden: match change {
            "remove" => Vec::new(),
            role => vec![("role".into(), role.to_owned())],
        },
        back: (members_url(&m.org_id), "Members"),
        nav: "members",
        grace: None,
        terms: None,
    }
}

fn role_name(role: &str) -> String {
    keygate_core::Role::parse(role)
        .map(|r| role_label(r).to_owned())
        .unwrap_or_else(|| role.to_owned())
}

pub async fn change_role(
    State(app): State<Pages>,
    m: Manager,
    Path((_, user)): Path<(String, String)>,
    form: FormBody,
) -> Result<Response, PageError> {
    let who = orgs::member(&app, &m.org_id, &user_id(&user)?).await?;
    let role = form.get("role").unwrap_or("");
    let prompt = member_prompt(&m, &who, role, "Change role");
    let acting = m.acting();
    let action = orgs::set_role(&app, &acting, &who.user_id, role, form.get("password"));
    match confirmed(&app, &m, &form, prompt, failed_input(action)).await {
        Ok(Ok(_)) => Ok(see_other(&format!("{}?done=role", members_url(&m.org_id)))),
        Ok(Err(e)) => members_error(&app, &m, e, "").await,
        Err(page) => Ok(page),
    }
}

pub async fn remove_member(
    State(app): State<Pages>,
    m: Manager,
    Path((_, user)): Path<(String, String)>,
    form: FormBody,
) -> Result<Response, PageError> {
    let who = orgs::member(&app, &m.org_id, &user_id(&user)?).await?;
    let prompt = member_prompt(&m, &who, "remove", "Remove");
    let acting = m.acting();
    let action = orgs::remove(&app, &acting, &who.user_id, form.get("password"));
    match confirmed(&app, &m, &form, prompt, failed_input(action)).await {
        Ok(Ok(())) => Ok(see_other(&format!(
            "{}?done=removed",
            members_url(&m.org_id)
        ))),
        Ok(Err(e)) => members_error(&app, &m, e, "").await,
        Err(page) => Ok(page),
    }
}

async fn accounts_page(
    app: &Pages,
    m: &Manager,
    notice: Option<&'static str>,
    failed: Failed,
) -> Result<AccountsPage, PageError> {
    let shell = Shell::load(app, &m.current, &m.org_id, m.role, "accounts").await?;
    let rows = orgs::accounts(app, &m.org_id)
        .await?
        .iter()
        .map(|a| AccountRow {
            account_id: a.account_id.to_string(),
            name: a.name.clone(),
            created: when(a.created_at),
        })
        .collect();
    Ok(AccountsPage {
        shell,
        notice,
        rows,
        errors: failed.errors,
        name: failed.value,
    })
}

pub async fn accounts(
    State(app): State<Pages>,
    m: Manager,
    RawQuery(q): RawQuery,
) -> Result<Response, PageError> {
    let notice = (q.as_deref() == Some("done=created")).then_some("Account created.");
    let page = accounts_page(&app, &m, notice, Failed::default()).await?;
    Ok(render(&page))
}

pub async fn create_account(
    State(app): State<Pages>,
    m: Manager,
    form: FormBody,
) -> Result<Response, PageError> {
    check_form(&app, &m.current, &form)?;
    let name = form.get("name").unwrap_or("");
    let mut errors = FormErrors::new();
    errors.require(&form, "name", "Account name: enter a name.");
    errors.require(
        &form,
        "password",
        "Your login password: enter it to confirm.",
    );
    if errors.is_empty() {
        match orgs::create_account(&app, &m.acting(), name, form.get("password")).await {
            Ok(_) => {
                return Ok(see_other(&format!(
                    "/app/orgs/{}/settings/accounts?done=created",
                    m.org_id
                )));
            }
            // Every refusal of the name is about the name.
            Err(Error::Invalid { message, .. }) => {
                errors.add("name", format!("Account name: {}", sentence(&message)))
            }
            Err(e) => errors = failure(e, name, &[])?.errors,
        }
    }
    let failed = Failed {
        errors,
        value: name.to_owned(),
        ..Failed::default()
    };
    let page = accounts_page(&app, &m, None, failed).await?;
    Ok(render_status(page.errors.status(), &page))
}
