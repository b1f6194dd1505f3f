//! The audit page without JavaScript: filtered by actor and by event, the
//! filtered log exported as JSON lines (each line the API's event, its hash
//! intact), and a line saying whether the hash chain verifies.

use keygate_core::audit_chain::event_hash;
use serde_json::{Value, json};

use super::{org_with_two_accounts, signed_in};
use crate::helpers::{perms, spawn_app};

#[tokio::test]
async fn the_audit_page_filters_by_actor_and_event_exports_json_lines_and_shows_the_chain() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    for name in ["first", "second"] {
        app.scoped_key(
            &org,
            json!({"name": name, "org_permissions": perms(&[("billing_invoices", "read")])}),
        )
        .await;
    }
    let c = signed_in(&app, "owner@acme.test").await;
    let base = format!("/app/orgs/{}/settings/developer/audit-log", org.org_id);

    let (st, _, html) = c.get(&base).await;
    assert_eq!(st, 200);
    assert!(html.contains("The hash chain verifies:"), "{html}");
    assert!(html.contains("class=\"event-code\">scoped_key.created<"));

    // By event: only that event's rows.
    let (_, _, html) = c.get(&format!("{base}?action=scoped_key.created")).await;
    let rows = html.matches("class=\"event-code\">").count();
    assert_eq!(
        html.matches("class=\"event-code\">scoped_key.created<")
            .count(),
        2
    );
    assert_eq!(rows, 2, "{html}");
    // By actor: the owner's events; nobody's: none.
    let (_, _, html) = c.get(&format!("{base}?actor=owner%40acme.test")).await;
    assert!(html.contains("class=\"event-code\">scoped_key.created<"));
    let (_, _, html) = c.get(&format!("{base}?actor=nobody%40acme.test")).await;
    assert!(html.contains("No events"), "{html}");

    // Export: JSON lines of what is filtered, oldest first, hashes intact.
    let (st, headers, body) = c
        .get(&format!("{base}/export?action=scoped_key.created"))
        .await;
    assert_eq!(st, 200);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/x-ndjson")
    );
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let lines: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["details"]["name"], "first");
    assert!(lines[0]["seq"].as_i64() < lines[1]["seq"].as_i64());
    for e in &lines {
        assert_eq!(e["action"], "scoped_key.created");
        assert_eq!(e["hash"].as_str().unwrap(), event_hash(e));
    }
}
