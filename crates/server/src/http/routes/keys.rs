//! The key actions of the reference page. Every change needs the user's
//! password in the body; secrets appear only in the response that creates them.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use keygate_store::{KeyKind, KeyRecord};

use crate::http::dto::PasswordConfirmation;
use crate::http::dto::keys::{
    AdminKeyCreate, AdminKeyPatch, KeyList, KeyRegenerate, KeyView, KeyWithSecret, ScopedKeyCreate,
    ScopedKeyDuplicate, ScopedKeyPatch, federation_in, limit_change, new_limit,
};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{JsonBody, KeyManager, OrgMember};
use crate::http::routes::client_id;
use crate::service::keys::{self, KeyChanges, KeyTerms, LimitChange, RotateOptions, ScopeInput};
use crate::service::usage;
use crate::state::app::AppState;

type Member = OrgMember<KeyManager>;
type Created = (StatusCode, Json<KeyWithSecret>);

/// Admin and scoped keys of the organization, never a secret.
#[utoipa::path(get, path = "/dev/v1/orgs/{org_id}/api-keys", tag = "keys", operation_id = "list_keys",
    params(("org_id" = String, Path)),
    responses((status = 200, body = KeyList), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(State(app): State<AppState>, m: Member) -> Result<Json<KeyList>, ApiError> {
    let all = keys::list(&app, &m.org_id).await?;
    let used = usage::last_used(&app, &m.org_id).await?;
    let view = |k: &KeyRecord| {
        KeyView::new(k, &app.catalog)
            .with_last_used(used.get(&k.client_id))
            .with_credits(k, &app.credits)
    };
    let (admin, scoped): (Vec<_>, Vec<_>) = all.iter().partition(|k| k.kind == KeyKind::Admin);
    Ok(Json(KeyList {
        admin_keys: admin.into_iter().map(view).collect(),
        scoped_keys: scoped.into_iter().map(view).collect(),
    }))
}

/// Generate the admin key of the organization or of one account. 409 if it exists.
#[utoipa::path(post, path = "/dev/v1/orgs/{org_id}/admin-keys", tag = "keys",
    params(("org_id" = String, Path)), request_body = AdminKeyCreate,
    responses((status = 201, body = KeyWithSecret), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn generate_admin(
    State(app): State<AppState>,
    m: Member,
    JsonBody(body): JsonBody<AdminKeyCreate>,
) -> Result<Created, ApiError> {
    let limit = new_limit(body.rate_limit)?;
    let terms = KeyTerms {
        allowed_networks: body.allowed_networks,
        expires_at: body.expires_at,
        require_dpop: None,
        credits: None,
        federation: None,
    };
    let password = body.password.as_deref();
    let r =
        keys::generate_admin(&app, &m.acting(), &body.owner_id, limit, &terms, password).await?;
    Ok((
        StatusCode::CREATED,
        Json(KeyWithSecret::new(&r, &app.catalog)),
    ))
}

/// New secret for an admin key; the client id stays. The old secret and its tokens stop working at
/// once, or after `previous_secret_expires_in` seconds. `expires_at` sets or (null) clears the key's
/// expiry; `allowed_networks` replaces the key's allowlist (admin keys have no edit of either).
#[utoipa::path(post, path = "/dev/v1/orgs/{org_id}/admin-keys/{client_id}/regenerate", tag = "keys",
    params(("org_id" = String, Path), ("client_id" = String, Path)), request_body = KeyRegenerate,
    responses((status = 200, body = KeyWithSecret), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn regenerate_admin(
    State(app): State<AppState>,
    m: Member,
    Path((_, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<KeyRegenerate>,
) -> Result<Json<KeyWithSecret>, ApiError> {
    regenerate(&app, &m, &id, body, KeyKind::Admin).await
}

/// Set or clear an admin key's rate limit (its only editable field).
#[utoipa::path(patch, path = "/dev/v1/orgs/{org_id}/admin-keys/{client_id}", tag = "keys",
    params(("org_id" = String, Path), ("client_id" = String, Path)), request_body = AdminKeyPatch,
    responses((status = 200, body = KeyView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_admin(
    State(app): State<AppState>,
    m: Member,
    Path((_, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<AdminKeyPatch>,
) -> Result<Json<KeyView>, ApiError> {
    let id = client_id(&id)?;
    let acting = m.acting();
    let password = body.password.as_deref();
    let change = limit_change(body.rate_limit)?;
    let key = keys::set_rate_limit(&app, &acting, &id, KeyKind::Admin, change, password).await?;
    Ok(Json(KeyView::new(&key, &app.catalog)))
}

async fn regenerate(
    app: &AppState,
    m: &Member,
    id: &str,
    body: KeyRegenerate,
    kind: KeyKind,
) -> Result<Json<KeyWithSecret>, ApiError> {
    let id = client_id(id)?;
    let options = RotateOptions {
        previous_secret_expires_in: body.previous_secret_expires_in,
        expires_at: body.expires_at,
        allowed_networks: body.allowed_networks,
        // Absent from the JSON body: the key keeps its limit (PATCH changes it).
        rate_limit: LimitChange::Keep,
    };
    let password = body.password.as_deref();
    let r = keys::regenerate(app, &m.acting(), &id, kind, &options, password).await?;
    Ok(Json(KeyWithSecret::new(&r, &app.catalog)))
}

/// Create a scoped key.
#[utoipa::path(post, path = "/dev/v1/orgs/{org_id}/scoped-keys", tag = "keys",
    params(("org_id" = String, Path)), request_body = ScopedKeyCreate,
    responses((status = 201, body = KeyWithSecret), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn create_scoped(
    State(app): State<AppState>,
    m: Member,
    JsonBody(body): JsonBody<ScopedKeyCreate>,
) -> Result<Created, ApiError> {
    let input = ScopeInput {
        org_permissions: body.org_permissions.into_iter().map(Into::into).collect(),
        account_permissions: body.account_permissions.map(Into::into),
        expires_at: body.expires_at,
    };
    let limit = new_limit(body.rate_limit)?;
    let terms = KeyTerms {
        allowed_networks: body.allowed_networks,
        expires_at: None,
        require_dpop: body.require_dpop,
        credits: body.credits,
        federation: federation_in(body.federation),
    };
    let password = body.password.as_deref();
    let r = keys::create_scoped(
        &app,
        &m.acting(),
        &body.name,
        &input,
        limit,
        &terms,
        password,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(KeyWithSecret::new(&r, &app.catalog)),
    ))
}

/// One scoped key, no secret.
#[utoipa::path(get, path = "/dev/v1/orgs/{org_id}/scoped-keys/{client_id}", tag = "keys",
    params(("org_id" = String, Path), ("client_id" = String, Path)),
    responses((status = 200, body = KeyView), (status = 404, body = ErrorBody)))]
pub async fn get_scoped(
    State(app): State<AppState>,
    m: Member,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<KeyView>, ApiError> {
    let key = keys::get(&app, &m.org_id, &client_id(&id)?, KeyKind::Scoped).await?;
    let used = usage::last_used(&app, &m.org_id).await?;
    Ok(Json(
        KeyView::new(&key, &app.catalog)
            .with_last_used(used.get(&key.client_id))
            .with_credits(&key, &app.credits),
    ))
}

/// Edit a scoped key's name, scope or expiry; the secret does not change, the change applies at once.
#[utoipa::path(patch, path = "/dev/v1/orgs/{org_id}/scoped-keys/{client_id}", tag = "keys",
    params(("org_id" = String, Path), ("client_id" = String, Path)), request_body = ScopedKeyPatch,
    responses((status = 200, body = KeyView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_scoped(
    State(app): State<AppState>,
    m: Member,
    Path((_, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<ScopedKeyPatch>,
) -> Result<Json<KeyView>, ApiError> {
    let changes = KeyChanges {
        name: body.name,
        org_permissions: body
            .org_permissions
            .map(|v| v.into_iter().map(Into::into).collect()),
        account_permissions: body.account_permissions.map(Into::into),
        rate_limit: limit_change(body.rate_limit)?,
        expires_at: body.expires_at,
        allowed_networks: body.allowed_networks,
        require_dpop: body.require_dpop,
        credits: body.credits,
        federation: federation_in(body.federation),
    };
    let id = client_id(&id)?;
    let key = keys::update(&app, &m.acting(), &id, changes, body.password.as_deref()).await?;
    Ok(Json(KeyView::new(&key, &app.catalog)))
}

/// New secret for a scoped key (same client id). The old secret and its tokens stop working at once,
/// or after `previous_secret_expires_in` seconds (at most 7 days, never beyond the key's expiry).
#[utoipa::path(post, path = "/dev/v1/orgs/{org_id}/scoped-keys/{client_id}/regenerate", tag = "keys",
    params(("org_id" = String, Path), ("client_id" = String, Path)), request_body = KeyRegenerate,
    responses((status = 200, body = KeyWithSecret), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn regenerate_scoped(
    State(app): State<AppState>,
    m: Member,
    Path((_, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<KeyRegenerate>,
) -> Result<Json<KeyWithSecret>, ApiError> {
    regenerate(&app, &m, &id, body, KeyKind::Scoped).await
}

/// A new key (new client id and secret) with the same scope.
#[utoipa::path(post, path = "/dev/v1/orgs/{org_id}/scoped-keys/{client_id}/duplicate", tag = "keys",
    params(("org_id" = String, Path), ("client_id" = String, Path)), request_body = ScopedKeyDuplicate,
    responses((status = 201, body = KeyWithSecret), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn duplicate_scoped(
    State(app): State<AppState>,
    m: Member,
    Path((_, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<ScopedKeyDuplicate>,
) -> Result<Created, ApiError> {
    let id = client_id(&id)?;
    let name = body.name.as_deref();
    let limit = limit_change(body.rate_limit)?;
    let terms = KeyTerms {
        allowed_networks: body.allowed_networks,
        expires_at: body.expires_at,
        require_dpop: body.require_dpop,
        credits: body.credits,
        federation: federation_in(body.federation),
    };
    let password = body.password.as_deref();
    let r = keys::duplicate(&app, &m.acting(), &id, name, limit, &terms, password).await?;
    Ok((
        StatusCode::CREATED,
        Json(KeyWithSecret::new(&r, &app.catalog)),
    ))
}

/// Delete a scoped key; it and its tokens stop working at once.
#[utoipa::path(delete, path = "/dev/v1/orgs/{org_id}/scoped-keys/{client_id}", tag = "keys",
    params(("org_id" = String, Path), ("client_id" = String, Path)), request_body = PasswordConfirmation,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_scoped(
    State(app): State<AppState>,
    m: Member,
    Path((_, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<PasswordConfirmation>,
) -> Result<StatusCode, ApiError> {
    keys::delete(
        &app,
        &m.acting(),
        &client_id(&id)?,
        body.password.as_deref(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
