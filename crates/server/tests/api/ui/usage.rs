//! Usage in the Developer app, in a real browser at 1280 px: the organization
//! overview (calls per day as server-drawn SVG, top keys, refusals by reason)
//! and a key's page (last use, calls per hour), with their numbers as tables;
//! and every table of the app fits the window (nothing scrolls sideways).

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::{Browser, browser, screenshot_dir};
use crate::gateway::gateway;
use crate::helpers::{Org, PASSWORD, TestApp, cid, eventually, perms};

/// Tables (their scrolling wrappers) wider than their box, and the page
/// itself if it scrolls sideways: empty when everything fits.
const OVERFLOWS: &str = r#"
document.querySelectorAll('details.numbers').forEach(d => d.open = true);
const bad = [];
document.querySelectorAll('.table-wrap').forEach((w, i) => {
  if (w.scrollWidth > w.clientWidth) {
    const head = (w.querySelector('thead') || w).innerText.replace(/\s+/g, ' ').slice(0, 80);
    bad.push(`table ${i} (${head}): ${w.scrollWidth} > ${w.clientWidth}`);
  }
});
const d = document.documentElement;
if (d.scrollWidth > d.clientWidth) bad.push(`page: ${d.scrollWidth} > ${d.clientWidth}`);
return bad;
"#;

async fn fits(b: &Browser, page: &str) {
    let bad = b.c.execute(OVERFLOWS, vec![]).await.unwrap();
    assert_eq!(bad, json!([]), "{page} does not fit 1280 px");
}

/// Saves the screenshot under target/ui-screenshots/, and into docs/screenshots/
/// for the docs when KEYGATE_DOCS_SCREENSHOTS=1.
async fn shot_for_docs(b: &Browser, name: &str) {
    b.shot_full(name, 1600).await;
    if std::env::var("KEYGATE_DOCS_SCREENSHOTS").as_deref() == Ok("1") {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
        std::fs::copy(
            screenshot_dir().join(format!("{name}.png")),
            docs.join(format!("{name}.png")),
        )
        .unwrap();
    }
}

async fn call(app: &TestApp, token: &str, method: &str, path: &str) -> u16 {
    let rb = app
        .http
        .get(format!("{}/auth/verify", app.base))
        .bearer_auth(token)
        .header("x-original-method", method)
        .header("x-original-uri", path);
    app.send(rb).await.status.as_u16()
}

async fn usage_total(app: &TestApp, org: &Org) -> u64 {
    let r = app
        .req(
            Method::GET,
            &format!("/dev/v1/orgs/{}/usage?granularity=day", org.org_id),
            Some(&org.owner),
            None,
        )
        .await;
    r.body["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b: &Value| {
            b["allowed"].as_u64().unwrap()
                + ["scope", "rate_limit", "expired", "revoked", "network"]
                    .iter()
                    .map(|k| b["refused"][k].as_u64().unwrap())
                    .sum::<u64>()
        })
        .sum()
}

#[tokio::test]
async fn usage_pages_draw_charts_with_tables_and_every_table_fits_1280_px() {
    let g = gateway(&["--usage-flush-interval", "1"]).await;
    let (app, org) = (&g.app, &g.org);
    let reader = |name: &str| {
        json!({"name": name, "org_permissions": perms(&[("billing_invoices", "read"), ("accounts", "read")]),
               "account_permissions": {"accounts": [&org.accounts[0]], "resources": perms(&[("balances", "read"), ("payment_intents", "write")])}})
    };
    let billing = app
        .scoped_key(org, reader("billing-sync (nightly reconciliation)"))
        .await;
    let reports = app.scoped_key(org, reader("reports")).await;
    app.admin_key(org, &org.org_id).await;
    let t1 = app.token(&billing, Some(&org.accounts[0])).await;
    let t2 = app.token(&reports, Some(&org.accounts[0])).await;
    for _ in 0..12 {
        assert_eq!(call(app, &t1, "GET", "/api/v1/balances/current").await, 200);
    }
    for _ in 0..3 {
        assert_eq!(call(app, &t1, "GET", "/api/v1/nothing/here").await, 403);
    }
    for _ in 0..5 {
        assert_eq!(call(app, &t2, "GET", "/api/v1/balances/current").await, 200);
    }
    // An edit, for a long line in the audit log's details.
    let r = app
        .req(
            Method::PATCH,
            &format!("/dev/v1/orgs/{}/scoped-keys/{}", org.org_id, cid(&reports)),
            Some(&org.owner),
            Some(json!({"name": "reports (weekly export to the data warehouse)", "password": PASSWORD,
                        "org_permissions": perms(&[("billing_invoices", "read")])})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    eventually(
        "usage of 20 calls",
        Duration::from_secs(20),
        async || match usage_total(app, org).await {
            n if n >= 20 => Ok(()),
            n => Err(format!("{n} calls")),
        },
    )
    .await;

    let Some(b) = browser(app, "usage").await else {
        return;
    };
    b.sign_in(&org.owner.email, PASSWORD).await;
    b.c.set_window_size(1280, 900).await.unwrap();
    let inner =
        b.c.execute("return window.innerWidth;", vec![])
            .await
            .unwrap();
    assert!(inner.as_u64().unwrap() <= 1280, "{inner}");
    let base = format!("/app/orgs/{}/settings/developer", org.org_id);

    // The overview: chart, top keys, refusals by reason.
    b.go(&format!("{base}/usage")).await;
    b.wait_for_text("Calls per day").await;
    let bars =
        b.c.execute(
            "return document.querySelectorAll('svg.chart-svg g rect').length;",
            vec![],
        )
        .await
        .unwrap();
    assert!(bars.as_u64().unwrap() >= 2, "bars: {bars}");
    let text = b.text().await;
    assert!(text.contains("Allowed (17)"), "{text}");
    assert!(text.contains("Refused, hatched (3)"), "{text}");
    assert!(text.contains("billing-sync (nightly reconciliation)"));
    let hatch =
        b.c.execute(
            "return document.querySelector('svg.chart-svg pattern') !== null;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(hatch, json!(true), "refusals are told apart by a pattern");
    fits(&b, "usage overview").await;
    // The numbers as a table: today's row says 17 allowed, 3 refused (scope).
    let row =
        b.c.execute(
            "const rows = [...document.querySelectorAll('details.numbers tbody tr')]; \
             return rows[rows.length - 1].innerText.split(/\\s+/).join(' ');",
            vec![],
        )
        .await
        .unwrap();
    assert!(row.as_str().unwrap().ends_with("17 3 3 0 0 0 0"), "{row}");
    b.c.execute(
        "document.querySelectorAll('details.numbers').forEach(d => d.open = false);",
        vec![],
    )
    .await
    .unwrap();
    shot_for_docs(&b, "usage-overview").await;

    // A key's page, reached from the top keys.
    b.click_text("a", "billing-sync (nightly reconciliation)")
        .await;
    b.wait_for_text("Calls in the last 24 hours").await;
    let last = b.css("#last-used").await.text().await.unwrap();
    assert!(last.contains("from 127.0.0.1"), "{last}");
    let text = b.text().await;
    assert!(
        text.contains("Allowed (12)") && text.contains("Refused, hatched (3)"),
        "{text}"
    );
    fits(&b, "key page").await;
    b.c.execute(
        "document.querySelectorAll('details.numbers').forEach(d => d.open = false);",
        vec![],
    )
    .await
    .unwrap();
    shot_for_docs(&b, "usage-key").await;

    // The other tables of the app at the same width.
    b.go(&format!("{base}/api-keys")).await;
    b.wait_for_text("Scoped API keys").await;
    fits(&b, "API keys").await;
    b.go(&format!("{base}/audit-log")).await;
    b.wait_for_text("newest first").await;
    fits(&b, "audit log").await;
    // Details read as lines of words, not one word a line.
    let narrowest = b
        .c
        .execute(
            "return Math.min(...[...document.querySelectorAll('td.details')].map(td => td.getBoundingClientRect().width));",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        narrowest.as_f64().unwrap() >= 200.0,
        "details column {narrowest} px"
    );
    shot_for_docs(&b, "audit-log").await;
    for page in ["/members", "/accounts"] {
        b.go(&format!("/app/orgs/{}/settings{page}", org.org_id))
            .await;
        b.wait_for_text("Sign out").await;
        fits(&b, page).await;
    }
    b.go("/app/security").await;
    b.wait_for_text("Sign out").await;
    fits(&b, "security").await;
    b.close().await;
}
