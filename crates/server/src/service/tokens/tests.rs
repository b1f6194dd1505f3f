//! The hot path's unit tests: logins and checks against a real SQLite store.

use std::sync::Arc;

use keygate_core::crypto::{Pepper, random_bytes};
use keygate_core::permission::{Access, AccountSelection, Permission};
use keygate_core::token::{TokenKey, TokenKeys};
use keygate_store::{KeyKind, Store, sqlite::SqliteStore};

use super::*;
use crate::service::keys::{self, AccountPermissionsInput, KeyChanges, ScopeInput};
use crate::service::{Acting, orgs};

const PASSWORD: &str = "correct-horse-battery-staple";
const LOCAL: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));

async fn app() -> (Arc<App>, Acting, Vec<AccountId>, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("kg-unit-{}", random_base62(8)));
    std::fs::create_dir_all(&dir).unwrap();
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&format!("sqlite://{}/t.db", dir.display()))
            .await
            .unwrap(),
    );
    let created = orgs::create_org(
        store.as_ref(),
        "Acme",
        "o@acme.test",
        orgs::Owner::New { password: PASSWORD },
        &["HK".into(), "UK".into()],
    )
    .await
    .unwrap();
    let args = <crate::state::config::ServeArgs as clap::FromArgMatches>::from_arg_matches(
        &<crate::state::config::ServeArgs as clap::Args>::augment_args(clap::Command::new("t"))
            .get_matches_from(["t"]),
    )
    .unwrap();
    let tokens = TokenKeys::new(vec![TokenKey::from_seed(random_bytes())]).unwrap();
    let app = App::new(
        store,
        args.settings().unwrap(),
        Pepper::new(b"pepper"),
        tokens,
    )
    .await
    .unwrap();
    let owner = app
        .store
        .user(&created.owner_user_id)
        .await
        .unwrap()
        .unwrap();
    let who = Acting {
        user: owner,
        org_id: created.org_id,
        role: keygate_core::Role::Owner,
        actor: crate::state::audit::Actor::default(),
    };
    let accounts = created.accounts.into_iter().map(|a| a.account_id).collect();
    (app, who, accounts, dir)
}

/// The token check of a path as every caller has it: checked first (an
/// ambiguous path never reaches the token, `gateway::request::path`).
async fn check(
    app: &App,
    presented: Presented<'_>,
    method: &str,
    path: &str,
    ip: Option<IpAddr>,
) -> Result<Allowed, Denied> {
    let path = keygate_core::catalog::check_path(path).expect("a plain path");
    super::check(app, presented, method, path, ip).await
}

fn read(resource: &str) -> Permission {
    Permission {
        resource: resource.into(),
        access: Access::Read,
    }
}

#[tokio::test]
async fn the_token_check_allows_refuses_and_follows_key_changes_at_once() {
    let (app, who, accounts, dir) = app().await;
    let password = Some(PASSWORD);
    let input = ScopeInput {
        org_permissions: vec![],
        account_permissions: Some(AccountPermissionsInput {
            accounts: AccountSelection::Some([accounts[0].clone()].into()),
            resources: vec![read("balances")],
        }),
        expires_at: None,
    };
    let r = keys::create_scoped(&app, &who, "k", &input, None, &Default::default(), password)
        .await
        .unwrap();
    let login = |key: String| {
        let app = app.clone();
        let id = r.key.client_id.to_string();
        async move {
            let req = LoginRequest {
                client_id: Some(&id),
                api_key: Some(&key),
                login_as: None,
                ip: "127.0.0.1",
                user_agent: None,
                scope: None,
                dpop: None,
            };
            login(&app, &req).await.map(|i| i.token)
        }
    };
    let token = login(r.api_key.expose().to_owned()).await.unwrap();
    assert!(
        check(
            &app,
            Presented::Bearer(&token),
            "GET",
            "/api/v1/balances/current",
            LOCAL
        )
        .await
        .is_ok()
    );
    assert_eq!(
        check(
            &app,
            Presented::Bearer(&token),
            "POST",
            "/api/v1/balances/current",
            LOCAL
        )
        .await
        .err(),
        Some(Denied::Forbidden)
    );
    assert_eq!(
        check(
            &app,
            Presented::Bearer(&token),
            "GET",
            "/api/v1/nothing",
            LOCAL
        )
        .await
        .err(),
        Some(Denied::Forbidden)
    );
    assert_eq!(
        check(
            &app,
            Presented::Bearer("x.y.z"),
            "GET",
            "/api/v1/balances",
            LOCAL
        )
        .await
        .err(),
        Some(Denied::Unauthenticated)
    );

    // Edited to less: refused on the next check.
    let edited = KeyChanges {
        account_permissions: Some(AccountPermissionsInput {
            accounts: AccountSelection::Some([accounts[0].clone()].into()),
            resources: vec![read("payment_intents")],
        }),
        ..KeyChanges::default()
    };
    keys::update(&app, &who, &r.key.client_id, edited, password)
        .await
        .unwrap();
    assert_eq!(
        check(
            &app,
            Presented::Bearer(&token),
            "GET",
            "/api/v1/balances/current",
            LOCAL
        )
        .await
        .err(),
        Some(Denied::Forbidden)
    );
    assert!(
        check(
            &app,
            Presented::Bearer(&token),
            "GET",
            "/api/v1/pa/payment_intents/1",
            LOCAL
        )
        .await
        .is_ok()
    );

    // Regenerated: the old token and the old secret are dead, the new ones work.
    let rotate = keys::RotateOptions::default();
    let regen = keys::regenerate(
        &app,
        &who,
        &r.key.client_id,
        KeyKind::Scoped,
        &rotate,
        password,
    )
    .await
    .unwrap();
    assert_eq!(
        check(
            &app,
            Presented::Bearer(&token),
            "GET",
            "/api/v1/pa/payment_intents/1",
            LOCAL
        )
        .await
        .err(),
        Some(Denied::Unauthenticated)
    );
    assert!(login(r.api_key.expose().to_owned()).await.is_err());
    let fresh = login(regen.api_key.expose().to_owned()).await.unwrap();
    assert!(
        check(
            &app,
            Presented::Bearer(&fresh),
            "GET",
            "/api/v1/pa/payment_intents/1",
            LOCAL
        )
        .await
        .is_ok()
    );

    // Deleted: dead.
    keys::delete(&app, &who, &r.key.client_id, password)
        .await
        .unwrap();
    assert_eq!(
        check(
            &app,
            Presented::Bearer(&fresh),
            "GET",
            "/api/v1/pa/payment_intents/1",
            LOCAL
        )
        .await
        .err(),
        Some(Denied::Unauthenticated)
    );
    let _ = std::fs::remove_dir_all(dir);
}
