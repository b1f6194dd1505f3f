//! The operator API (`/operator/v1`): operator tokens from the CLI, orgs
//! provisioned with an invited owner, found, paged, edited, suspended and
//! resumed, on the real server over HTTP.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

/// `keygate operator token create --name NAME`: the one kgop_ token printed.
pub(crate) fn new_token(app: &TestApp, name: &str) -> Session {
    let out = app.cli(&["operator", "token", "create", "--name", name], "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("kgop_") && token.len() > 30, "{token}");
    app.remember(&token);
    Session {
        token,
        email: format!("operator:{name}"),
    }
}

pub(crate) async fn op(
    app: &TestApp,
    m: Method,
    path: &str,
    token: &Session,
    body: Option<Value>,
) -> Resp {
    app.req(m, path, Some(token), body).await
}

async fn audit_actors(app: &TestApp, org_id: &str, owner: &Session) -> Vec<(String, String)> {
    let r = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{org_id}/audit-events"),
            Some(owner),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or("").to_owned(),
                e["actor_email"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn operator_tokens_are_the_only_credential_of_the_operator_api_and_die_when_revoked() {
    let app = spawn_app().await;
    let none = app.req(Method::GET, "/operator/v1/orgs", None, None).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.code(), "unauthorized");

    let back = new_token(&app, "back-office");
    let temp = new_token(&app, "ci-temp");
    let list = app.cli(&["operator", "token", "list"], "");
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(list.status.success() && listed.contains("back-office") && listed.contains("ci-temp"));
    assert!(
        !listed.contains(&back.token[5..]),
        "the token is never listed"
    );
    // Stored hashed: not in any file of the data dir.
    for f in walk(&app.data_dir) {
        let bytes = std::fs::read(&f).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(&back.token[5..]),
            "{} holds the token",
            f.display()
        );
    }

    let r = op(&app, Method::GET, "/operator/v1/orgs", &temp, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["orgs"].is_array() && r.body.get("next_cursor").is_some());

    // An operator token is no session; a session or an API key is no operator token.
    let me = app.req(Method::GET, "/dev/v1/me", Some(&back), None).await;
    assert_eq!(me.status, 401);
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let as_owner = op(&app, Method::GET, "/operator/v1/orgs", &org.owner, None).await;
    assert_eq!(
        (as_owner.status.as_u16(), &as_owner.body),
        (401, &none.body)
    );
    let key = app
        .scoped_key(&org, json!({"name": "r", "account_permissions": {"accounts": [&org.accounts[0]], "resources": perms(&[("balances", "read")])}}))
        .await;
    let token = app.token(&key, None).await;
    for bad in [secret(&key).to_owned(), token] {
        let s = Session {
            token: bad,
            email: String::new(),
        };
        let r = op(&app, Method::GET, "/operator/v1/orgs", &s, None).await;
        assert_eq!((r.status.as_u16(), &r.body), (401, &none.body));
    }

    let out = app.cli(&["operator", "token", "revoke", "ci-temp"], "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = op(&app, Method::GET, "/operator/v1/orgs", &temp, None).await;
    assert_eq!(
        (r.status.as_u16(), &r.body),
        (401, &none.body),
        "refused on the next request"
    );
    let r = op(&app, Method::GET, "/operator/v1/orgs", &back, None).await;
    assert_eq!(r.status, 200);
    let again = app.cli(&["operator", "token", "revoke", "ci-temp"], "");
    assert_eq!(again.status.code(), Some(2), "an unknown name");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn the_operator_provisions_an_org_whose_invited_owner_takes_it_and_finds_pages_and_edits_orgs()
 {
    let app = spawn_app().await;
    let back = new_token(&app, "back-office");
    let meta = json!({"crm": "hubspot", "tier": "trial"});
    let r = op(
        &app,
        Method::POST,
        "/operator/v1/orgs",
        &back,
        Some(json!({"name": "Acme", "owner_email": "owner@acme.test",
            "accounts": ["Acme HK", "Acme UK"], "external_id": "crm-1001", "metadata": meta})),
    )
    .await;
    assert_eq!(r.status, 201, "{}\n{}", r.body, app.log());
    let a = r.body.clone();
    assert_eq!(a["name"], "Acme");
    assert_eq!(a["external_id"], "crm-1001");
    assert_eq!(a["plan_id"], Value::Null);
    assert_eq!(a["status"], "active");
    assert_eq!(a["metadata"], meta);
    assert_eq!(a["accounts"].as_array().unwrap().len(), 2);
    let org_id = a["org_id"].as_str().unwrap().to_owned();
    let url = a["owner_invitation"]["url"].as_str().unwrap().to_owned();
    assert!(a["owner_invitation"]["invitation_id"].is_string());
    assert!(a["owner_invitation"]["expires_at"].is_string());

    // The same link is mailed; accepting it makes a new account the owner.
    let mailed = app
        .mailed_link("owner@acme.test", "/app/invitations/")
        .await;
    assert!(
        url.ends_with(&mailed[mailed.find("/app/").unwrap()..]),
        "{url} vs {mailed}"
    );
    let token = url.rsplit('/').next().unwrap();
    let acc = app
        .req(
            Method::POST,
            "/dev/v1/invitations/accept",
            None,
            Some(json!({"token": token, "password": PASSWORD})),
        )
        .await;
    assert_eq!(acc.status, 201, "{}\n{}", acc.body, app.log());
    let owner = Session {
        token: acc.body["session_token"].as_str().unwrap().to_owned(),
        email: "owner@acme.test".into(),
    };
    let me = app.req(Method::GET, "/dev/v1/me", Some(&owner), None).await;
    let roles: Vec<&Value> = me.body["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["org_id"] == org_id.as_str())
        .map(|m| &m["role"])
        .collect();
    assert_eq!(roles, vec![&json!("owner")]);

    // external_id is unique.
    let dup = op(
        &app,
        Method::POST,
        "/operator/v1/orgs",
        &back,
        Some(json!({"name": "Other", "owner_email": "o@other.test", "external_id": "crm-1001"})),
    )
    .await;
    assert_eq!((dup.status.as_u16(), dup.code()), (409, "conflict"));
    for (name, ext) in [("Beta", "crm-1002"), ("Gamma", "crm-1003")] {
        let r = op(
            &app,
            Method::POST,
            "/operator/v1/orgs",
            &back,
            Some(json!({"name": name, "owner_email": format!("owner@{ext}.test"), "external_id": ext})),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }

    let one = op(
        &app,
        Method::GET,
        &format!("/operator/v1/orgs/{org_id}"),
        &back,
        None,
    )
    .await;
    assert_eq!(
        (one.status.as_u16(), &one.body["name"]),
        (200, &json!("Acme"))
    );
    let found = op(
        &app,
        Method::GET,
        "/operator/v1/orgs?external_id=crm-1001",
        &back,
        None,
    )
    .await;
    assert_eq!(found.body["orgs"].as_array().unwrap().len(), 1);
    assert_eq!(found.body["orgs"][0]["org_id"], org_id.as_str());
    let none = op(
        &app,
        Method::GET,
        "/operator/v1/orgs?external_id=nope",
        &back,
        None,
    )
    .await;
    assert_eq!(none.body["orgs"], json!([]));

    // limit=1 walks every org once and ends with a null cursor.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/operator/v1/orgs?limit=1&cursor={c}"),
            None => "/operator/v1/orgs?limit=1".to_owned(),
        };
        let r = op(&app, Method::GET, &path, &back, None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        for o in r.body["orgs"].as_array().unwrap() {
            seen.push(o["org_id"].as_str().unwrap().to_owned());
        }
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (3, 3), "{seen:?}");
    let bad = op(&app, Method::GET, "/operator/v1/orgs?limit=0", &back, None).await;
    assert_eq!(bad.status, 400);

    // PATCH: name and metadata; null clears external_id.
    let p = op(
        &app,
        Method::PATCH,
        &format!("/operator/v1/orgs/{org_id}"),
        &back,
        Some(json!({"name": "Acme Ltd", "metadata": {"crm": "salesforce"}, "external_id": null})),
    )
    .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(p.body["name"], "Acme Ltd");
    assert_eq!(p.body["metadata"], json!({"crm": "salesforce"}));
    assert_eq!(p.body["external_id"], Value::Null);
    let one = op(
        &app,
        Method::GET,
        &format!("/operator/v1/orgs/{org_id}"),
        &back,
        None,
    )
    .await;
    assert_eq!(one.body["name"], "Acme Ltd");
    let other = op(
        &app,
        Method::GET,
        "/operator/v1/orgs/org_doesnotexist",
        &back,
        None,
    )
    .await;
    assert_eq!(other.status, 404);

    let actors = audit_actors(&app, &org_id, &owner).await;
    for action in ["org.created", "org.updated"] {
        assert!(
            actors
                .iter()
                .any(|(a, who)| a == action && who == "operator:back-office"),
            "{action} by operator:back-office in {actors:?}"
        );
    }
}

pub(crate) async fn verify(app: &TestApp, token: &str) -> Resp {
    let rb = app
        .http
        .get(format!("{}/auth/verify", app.base))
        .bearer_auth(token)
        .header("x-original-method", "GET")
        .header("x-original-uri", "/api/v1/balances/current");
    app.send(rb).await
}

#[tokio::test]
async fn the_usage_export_sums_to_what_the_org_usage_shows_for_the_same_span_in_json_and_csv() {
    let app = spawn_app_with(&["--usage-flush-interval", "1"], &[]).await;
    let back = new_token(&app, "back-office");
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let key = app
        .scoped_key(&org, json!({"name": "r", "account_permissions": {"accounts": [&org.accounts[0]], "resources": perms(&[("balances", "read")])}}))
        .await;
    let token = app.token(&key, None).await;
    for _ in 0..3 {
        assert_eq!(verify(&app, &token).await.status, 200);
    }
    let denied = app
        .send(
            app.http
                .get(format!("{}/auth/verify", app.base))
                .bearer_auth(&token)
                .header("x-original-method", "POST")
                .header("x-original-uri", "/api/v1/transfers/create"),
        )
        .await;
    assert_eq!(denied.status, 403);
    // The flush runs when the clock passes its interval.
    let now = app.advance_clock(Duration::from_secs(2)).await;
    let from = keygate_core::time::format_rfc3339(now - 3_600_000);
    let to = keygate_core::time::format_rfc3339(now + 60_000);
    let span = format!("from={from}&to={to}");
    let path = format!("/operator/v1/usage?{span}");
    let rows = eventually("the usage flushed", Duration::from_secs(20), async || {
        let r = op(&app, Method::GET, &path, &back, None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let rows = r.body["rows"].as_array().unwrap().clone();
        if rows.iter().any(|x| x["allowed"] == 3 && x["refused"] == 1) {
            Ok(rows)
        } else {
            Err(r.body)
        }
    })
    .await;
    assert_eq!(rows.len(), 1, "one row per key that had calls: {rows:?}");
    assert_eq!(rows[0]["org_id"], org.org_id.as_str());
    assert_eq!(rows[0]["client_id"], cid(&key));
    assert_eq!(rows[0]["external_id"], Value::Null);

    let dev = app
        .req(
            Method::GET,
            &format!(
                "/dev/v1/orgs/{}/usage?{span}&granularity=minute",
                org.org_id
            ),
            Some(&org.owner),
            None,
        )
        .await;
    assert_eq!(dev.status, 200, "{}", dev.body);
    let dev_allowed: u64 = dev.body["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["allowed"].as_u64().unwrap())
        .sum();
    assert_eq!(dev_allowed, 3, "the same sum as the org's own usage");

    let csv = app
        .http
        .get(format!("{}/operator/v1/usage?{span}&format=csv", app.base))
        .bearer_auth(&back.token)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "org_id,external_id,client_id,allowed,refused");
    assert_eq!(lines[1], format!("{},,{},3,1", org.org_id, cid(&key)));
    let bad = op(
        &app,
        Method::GET,
        "/operator/v1/usage?format=xml",
        &back,
        None,
    )
    .await;
    assert_eq!(bad.status, 400);
}

mod suspension;
