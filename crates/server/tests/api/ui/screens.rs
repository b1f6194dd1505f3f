//! The Developer app on every screen, in a real browser at 390 px (a phone)
//! and 1280 px: nothing scrolls sideways and no table is wider than its card,
//! the top bar and the sidebar fold into a menu on a phone, the … menu of a
//! key floats above its table and follows the keyboard (WAI-ARIA's menu
//! button), a form lists every error at once, and axe-core finds no serious
//! or critical accessibility violation, in the light and the dark theme. With KEYGATE_DOCS_SCREENSHOTS=1
//! (`scripts/screenshots`) the pages are also saved into docs/screenshots.

use std::path::PathBuf;

use serde_json::{Value, json};

use super::{Browser, api_scoped_key, browser, org_with_two_accounts, screenshot_dir};
use crate::helpers::{PASSWORD, spawn_app};

/// What does not fit: the page if it scrolls sideways, and each table wider
/// than its wrapper (its card). Empty when everything fits.
const OVERFLOWS: &str = r#"
const bad = [];
document.querySelectorAll('.table-wrap').forEach((w, i) => {
  if (w.scrollWidth > w.clientWidth + 1) {
    const head = (w.querySelector('thead') || w).innerText.replace(/\s+/g, ' ').slice(0, 60);
    bad.push(`table ${i} (${head}): ${w.scrollWidth} > ${w.clientWidth}`);
  }
});
const d = document.documentElement;
if (d.scrollWidth > d.clientWidth) {
  const wide = [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > d.clientWidth + 1)
    .slice(0, 3).map(e => e.tagName + '.' + e.className);
  bad.push(`page: ${d.scrollWidth} > ${d.clientWidth} (${wide.join(', ')})`);
}
return bad;
"#;

pub(super) async fn set_width(b: &Browser, width: u32) {
    b.c.set_window_size(width, 900).await.unwrap();
    let inner =
        b.c.execute("return window.innerWidth;", vec![])
            .await
            .unwrap();
    assert_eq!(
        inner.as_u64(),
        Some(width as u64),
        "the window is {inner} px wide"
    );
}

pub(super) async fn fits(b: &Browser, what: &str, width: u32) {
    let bad = b.c.execute(OVERFLOWS, vec![]).await.unwrap();
    assert_eq!(bad, json!([]), "{what} does not fit {width} px");
}

/// Misaligned form rows (fields side by side whose inputs start at
/// different heights) and charts narrower than their card: empty when none.
const ROUGH_EDGES: &str = r#"
const bad = [];
document.querySelectorAll('.grid-form').forEach(g => {
  const rows = {};
  g.querySelectorAll(':scope > .field').forEach(f => {
    const input = f.querySelector('input:not([type=hidden]), select, textarea');
    if (!input) return;
    const top = Math.round(f.getBoundingClientRect().top);
    (rows[top] = rows[top] || []).push(Math.round(input.getBoundingClientRect().top));
  });
  Object.values(rows).forEach(tops => {
    if (Math.max(...tops) - Math.min(...tops) > 1) bad.push(`form row inputs at ${tops.join(', ')}`);
  });
});
document.querySelectorAll('svg.chart-svg').forEach(svg => {
  const card = svg.closest('.card');
  const inner = card.clientWidth - parseFloat(getComputedStyle(card).paddingLeft) - parseFloat(getComputedStyle(card).paddingRight);
  if (svg.getBoundingClientRect().width < inner - 2) bad.push(`chart ${svg.getBoundingClientRect().width} of ${inner}`);
});
return bad;
"#;

/// axe-core from npm, installed outside the repository by the test setup
/// (`.ci/run`, `scripts/screenshots`): `KEYGATE_AXE_JS` or its usual place.
pub(super) fn axe_source() -> Option<String> {
    let path = std::env::var_os("KEYGATE_AXE_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/keygate-axe/node_modules/axe-core/axe.min.js"));
    match std::fs::read_to_string(&path) {
        Ok(s) => Some(s),
        Err(_) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("axe-core is required under CI=true ({})", path.display())
        }
        Err(_) => {
            eprintln!(
                "SKIPPED: axe checks: no axe-core at {} (npm install --prefix /var/tmp/keygate-axe axe-core)",
                path.display()
            );
            None
        }
    }
}

/// The serious and critical violations axe-core finds on the page.
pub(super) async fn axe(b: &Browser, axe_js: Option<&str>, what: &str) {
    let Some(src) = axe_js else { return };
    let loaded =
        b.c.execute("return typeof window.axe === 'object';", vec![])
            .await
            .unwrap();
    if loaded != json!(true) {
        // The script defines `axe` at its top level: run it as the body of the
        // function WebDriver calls, then keep it on the window.
        b.c.execute(&format!("{src}\n;window.axe = axe;"), vec![])
            .await
            .unwrap();
    }
    let found =
        b.c.execute_async(
            r#"const done = arguments[arguments.length - 1];
            axe.run(document, {resultTypes: ['violations']}).then(r => done(
              r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                .map(v => `${v.id} (${v.impact}): ${v.help}: ` +
                     v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '))
            ), e => done(['axe failed: ' + e]));"#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(found, json!([]), "axe on {what}");
}

/// A screenshot under target/ui-screenshots/, and into docs/screenshots/
/// when KEYGATE_DOCS_SCREENSHOTS=1.
pub(super) async fn screenshot(b: &Browser, name: &str) {
    b.shot_full(name, 2400).await;
    if std::env::var("KEYGATE_DOCS_SCREENSHOTS").as_deref() == Ok("1") {
        let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::copy(
            screenshot_dir().join(format!("{name}.png")),
            docs.join(format!("{name}.png")),
        )
        .unwrap();
    }
}

pub(super) async fn js(b: &Browser, script: &str) -> Value {
    b.c.execute(script, vec![]).await.unwrap()
}

#[tokio::test]
async fn every_page_fits_a_phone_and_a_desktop() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    let key = api_scoped_key(&app, &org, "Nightly reconciliation of invoices").await;
    let cid = key["client_id"].as_str().unwrap().to_owned();
    let Some(b) = browser(&app, "screens-fit").await else {
        return;
    };
    let axe_js = axe_source();
    // The pages before signing in.
    for width in [390, 1280] {
        set_width(&b, width).await;
        for (name, path) in [
            ("sign-in", "/app/sign-in"),
            ("password-reset", "/app/password-reset"),
        ] {
            b.go(path).await;
            b.css("h1").await;
            fits(&b, name, width).await;
            axe(&b, axe_js.as_deref(), &format!("{name} at {width} px")).await;
        }
    }
    b.sign_in(&org.owner.email, PASSWORD).await;
    let base = format!("/app/orgs/{}/settings", org.org_id);
    let pages = [
        ("settings", base.clone()),
        ("api-keys", format!("{base}/developer/api-keys")),
        ("key", format!("{base}/developer/api-keys/{cid}")),
        ("key-form", format!("{base}/developer/api-keys/new")),
        ("audit-log", format!("{base}/developer/audit-log")),
        ("usage", format!("{base}/developer/usage")),
        ("members", format!("{base}/members")),
        ("accounts", format!("{base}/accounts")),
        ("security", "/app/security".to_owned()),
        ("two-factor", "/app/security/two-factor".to_owned()),
    ];
    for width in [1280, 390] {
        set_width(&b, width).await;
        for (name, path) in &pages {
            b.go(path).await;
            b.css("h1").await;
            fits(&b, name, width).await;
            let rough = js(&b, ROUGH_EDGES).await;
            assert_eq!(rough, json!([]), "{name} at {width} px");
            let toggle = js(
                &b,
                "const t = document.getElementById('nav-toggle'); return t && t.offsetParent !== null;",
            )
            .await;
            if !toggle.is_null() {
                assert_eq!(
                    toggle,
                    json!(width == 390),
                    "the Menu button on {name} shows on a phone only"
                );
            }
            axe(&b, axe_js.as_deref(), &format!("{name} at {width} px")).await;
            screenshot(&b, &format!("{name}-{width}")).await;
        }
    }

    // The dark theme (the system's choice, emulated over chromedriver's
    // CDP endpoint) passes axe too.
    set_width(&b, 1280).await;
    let id = b.c.session_id().await.unwrap().unwrap();
    let r = reqwest::Client::new()
        .post(format!("{}/session/{id}/goog/cdp/execute", b.driver_url))
        .json(&json!({"cmd": "Emulation.setEmulatedMedia",
                      "params": {"features": [{"name": "prefers-color-scheme", "value": "dark"}]}}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{:?}", r.text().await);
    for (name, path) in &pages[1..6] {
        b.go(path).await;
        b.css("h1").await;
        let dark = js(
            &b,
            "return matchMedia('(prefers-color-scheme: dark)').matches;",
        )
        .await;
        assert_eq!(dark, true);
        axe(&b, axe_js.as_deref(), &format!("{name}, dark")).await;
        screenshot(&b, &format!("{name}-1280-dark")).await;
    }
    set_width(&b, 390).await;

    // A key's page says what the key can do.
    b.go(&format!("{base}/developer/api-keys/{cid}")).await;
    b.wait_for_text("Billing invoices (Read)").await;
    b.wait_for_text("Balances (Read)").await;

    // The audit log reads as sentences with labelled details; the key's
    // created event lists its permissions.
    b.go(&format!("{base}/developer/audit-log")).await;
    b.wait_for_text("owner@acme.test created the scoped key “Nightly reconciliation of invoices”")
        .await;
    let created = js(
        &b,
        r#"const row = [...document.querySelectorAll('table.audit tbody tr')]
             .find(r => r.innerText.includes('scoped_key.created'));
           return [...row.querySelectorAll('dl.kv > div')].map(d => d.innerText.replace(/\s+/g, ' '));"#,
    )
    .await;
    let created = created.to_string();
    assert!(
        created.contains("Permissions") && created.contains("Billing invoices (Read)"),
        "{created}"
    );

    // A phone: the top bar is one line with a Menu button; the sidebar does
    // not push the page down; the menu opens both.
    b.go(&format!("{base}/developer/api-keys")).await;
    b.wait_for_text("Scoped API keys").await;
    let layout = js(
        &b,
        r#"const bar = document.querySelector('.topbar').getBoundingClientRect();
        const side = document.querySelector('.sidebar');
        const h1 = document.querySelector('h1').getBoundingClientRect();
        return {bar: bar.height, sidebar: side.offsetParent !== null, h1: h1.top,
                window: window.innerHeight,
                signOut: [...document.querySelectorAll('button')].some(x => x.textContent.trim() === 'Sign out' && x.offsetParent !== null)};"#,
    )
    .await;
    assert!(layout["bar"].as_f64().unwrap() <= 72.0, "{layout}");
    assert_eq!(layout["sidebar"], false, "{layout}");
    assert_eq!(layout["signOut"], false, "{layout}");
    assert!(
        layout["h1"].as_f64().unwrap() < layout["window"].as_f64().unwrap() / 3.0,
        "the page starts in the first third of the screen: {layout}"
    );
    b.click("#nav-toggle").await;
    b.wait_for_text("Sign out").await;
    let open = js(
        &b,
        r#"const side = document.querySelector('.sidebar');
        const out = [...document.querySelectorAll('button')].find(x => x.textContent.trim() === 'Sign out');
        const r = out.getBoundingClientRect();
        return [side.offsetParent !== null, r.right <= window.innerWidth, document.getElementById('nav-toggle').getAttribute('aria-expanded')];"#,
    )
    .await;
    assert_eq!(open, json!([true, true, "true"]));
    fits(&b, "the open menu", 390).await;
    b.click_text("nav[@class='sidebar']//a", "Audit log").await;
    b.wait_for_text("newest first").await;
    b.close().await;
}

#[tokio::test]
async fn the_key_form_lists_every_error_at_once() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    let Some(b) = browser(&app, "screens-errors").await else {
        return;
    };
    b.sign_in(&org.owner.email, PASSWORD).await;
    set_width(&b, 390).await;
    b.go(&format!(
        "/app/orgs/{}/settings/developer/api-keys/new",
        org.org_id
    ))
    .await;
    b.wait_for_text("New scoped API key").await;
    // No name, two bad networks, a bad rate limit, no password.
    b.fill("#allowed_networks", "10.0.0.0/33\nnot-a-network")
        .await;
    b.fill("#rate_limit_requests", "0").await;
    b.fill("#rate_limit_per_seconds", "60").await;
    b.click_text("button", "Create").await;
    b.wait_for_text("problems").await;
    let summary = js(
        &b,
        r#"const s = document.getElementById('error-summary');
        return {focused: document.activeElement === s,
                top: s.getBoundingClientRect().top,
                links: [...s.querySelectorAll('a')].map(a => [a.getAttribute('href'), a.textContent.trim()])};"#,
    )
    .await;
    assert_eq!(summary["focused"], true, "{summary}");
    let links: Vec<&str> = summary["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l[0].as_str().unwrap())
        .collect();
    for field in [
        "#name",
        "#allowed_networks",
        "#rate_limit_requests",
        "#password",
    ] {
        assert!(links.contains(&field), "{field} missing from {summary}");
    }
    let networks = links.iter().filter(|l| **l == "#allowed_networks").count();
    assert_eq!(networks, 2, "one entry per bad line: {summary}");
    // Nothing typed is lost, and a link takes focus to its field.
    assert_eq!(
        b.value("#allowed_networks").await,
        "10.0.0.0/33\nnot-a-network"
    );
    b.click("#error-summary a[href='#name']").await;
    let focused = js(&b, "return document.activeElement.id;").await;
    assert_eq!(focused, "name");
    fits(&b, "the key form with errors", 390).await;
    b.close().await;
}

mod menu;
