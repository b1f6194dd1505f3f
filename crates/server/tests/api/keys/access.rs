//! Who may touch a key: keys of another organization are not found, analysts
//! and viewers get 403 on every key route, developers manage keys.

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

use super::{key_path, one_account};

#[tokio::test]
async fn keys_of_another_organization_are_not_found() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let other = app
        .create_org("Other", "owner@other.test", &["Other A"])
        .await;
    let sk = app.scoped_key(&org, json!({"name": "k", "account_permissions": one_account(&org.accounts[0], "balances", "read")})).await;
    let pw = Some(json!({"password": PASSWORD}));
    for (m, path, body) in [
        (
            Method::GET,
            key_path(&other, "scoped-keys", cid(&sk), ""),
            None,
        ),
        (
            Method::PATCH,
            key_path(&other, "scoped-keys", cid(&sk), ""),
            Some(json!({"name": "stolen", "password": PASSWORD})),
        ),
        (
            Method::DELETE,
            key_path(&other, "scoped-keys", cid(&sk), ""),
            pw.clone(),
        ),
        (
            Method::POST,
            key_path(&other, "scoped-keys", cid(&sk), "/regenerate"),
            pw.clone(),
        ),
        (
            Method::POST,
            key_path(&other, "scoped-keys", cid(&sk), "/duplicate"),
            pw.clone(),
        ),
    ] {
        let r = app.req(m.clone(), &path, Some(&other.owner), body).await;
        assert_eq!(r.status, 404, "{m} {path}");
    }
    // Naming the victim org directly: not a member, so the org itself is not found.
    let r = app
        .req(
            Method::GET,
            &key_path(&org, "scoped-keys", cid(&sk), ""),
            Some(&other.owner),
            None,
        )
        .await;
    assert_eq!(r.status, 404);
    let r = app
        .req(
            Method::POST,
            &format!("/dev/v1/orgs/{}/admin-keys", other.org_id),
            Some(&other.owner),
            Some(json!({"owner_id": org.accounts[0], "password": PASSWORD})),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["source"].as_str()),
        (400, Some("owner_id"))
    );
    assert_eq!(app.login(cid(&sk), secret(&sk), None).await.status, 201);
}

#[tokio::test]
async fn analysts_and_viewers_get_403_on_every_key_route_and_developers_manage_keys() {
    let app = spawn_app().await;
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let sk = app.scoped_key(&org, json!({"name": "k", "account_permissions": one_account(&org.accounts[0], "balances", "read")})).await;
    for role in ["analyst", "viewer", "developer"] {
        let email = format!("{role}@acme.test");
        app.invite_member(&org, &email, role).await;
    }
    let pw = json!({"password": PASSWORD});
    let routes = |org_id: &str| {
        vec![
            (Method::GET, format!("/dev/v1/orgs/{org_id}/api-keys"), None),
            (
                Method::GET,
                format!("/dev/v1/orgs/{org_id}/audit-events"),
                None,
            ),
            (
                Method::POST,
                format!("/dev/v1/orgs/{org_id}/admin-keys"),
                Some(json!({"owner_id": org_id, "password": PASSWORD})),
            ),
            (
                Method::POST,
                format!("/dev/v1/orgs/{org_id}/scoped-keys"),
                Some(
                    json!({"name": "n", "org_permissions": perms(&[("accounts", "read")]), "password": PASSWORD}),
                ),
            ),
            (
                Method::GET,
                format!("/dev/v1/orgs/{org_id}/scoped-keys/{}", cid(&sk)),
                None,
            ),
            (
                Method::PATCH,
                format!("/dev/v1/orgs/{org_id}/scoped-keys/{}", cid(&sk)),
                Some(json!({"name": "n2", "password": PASSWORD})),
            ),
            (
                Method::POST,
                format!("/dev/v1/orgs/{org_id}/scoped-keys/{}/duplicate", cid(&sk)),
                Some(pw.clone()),
            ),
            (
                Method::POST,
                format!("/dev/v1/orgs/{org_id}/scoped-keys/{}/regenerate", cid(&sk)),
                Some(pw.clone()),
            ),
            (
                Method::DELETE,
                format!("/dev/v1/orgs/{org_id}/scoped-keys/{}", cid(&sk)),
                Some(pw.clone()),
            ),
        ]
    };
    for role in ["analyst", "viewer"] {
        let s = app.sign_in(&format!("{role}@acme.test"), PASSWORD).await;
        for (m, path, body) in routes(&org.org_id) {
            let r = app.req(m.clone(), &path, Some(&s), body).await;
            assert_eq!(
                (r.status.as_u16(), r.code()),
                (403, "forbidden"),
                "{role} {m} {path}"
            );
        }
    }
    assert_eq!(app.login(cid(&sk), secret(&sk), None).await.status, 201);
    let dev = app.sign_in("developer@acme.test", PASSWORD).await;
    let mut statuses = vec![];
    for (m, path, body) in routes(&org.org_id) {
        statuses.push(app.req(m, &path, Some(&dev), body).await.status.as_u16());
    }
    assert_eq!(statuses, [200, 200, 201, 201, 200, 200, 201, 200, 204]);
}
