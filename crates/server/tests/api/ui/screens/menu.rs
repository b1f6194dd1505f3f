//! The … menu of a key: it floats above its table, shows whole at every width,
//! and follows the keyboard as WAI-ARIA's menu button does.

use fantoccini::Locator;
use fantoccini::key::Key;
use serde_json::json;

use super::{Browser, api_scoped_key, browser, js, org_with_two_accounts, set_width};
use crate::helpers::{PASSWORD, eventually, spawn_app};

/// The open … menu: whether all of it is inside the window, and the items
/// that something else covers at their centre (so a click would miss them).
/// Measured after two frames: the menu opens on the `toggle` event, which the
/// browser fires after the click.
const MENU_SEEN: &str = r#"
const done = arguments[arguments.length - 1];
requestAnimationFrame(() => requestAnimationFrame(() => done(seen())));
function seen() {
const list = document.querySelector('details.menu[open] .menu-list');
if (!list) return {open: false};
const r = list.getBoundingClientRect();
const inside = r.top >= 0 && r.left >= 0 && r.bottom <= window.innerHeight && r.right <= window.innerWidth;
const covered = [...list.querySelectorAll('a')].filter(a => {
  const b = a.getBoundingClientRect();
  const hit = document.elementFromPoint(b.left + b.width / 2, b.top + b.height / 2);
  return !(hit && (hit === a || a.contains(hit)));
}).map(a => a.textContent.trim());
return {open: true, inside, covered, items: list.querySelectorAll('a').length,
        box: [r.left, r.top, r.right, r.bottom], window: [window.innerWidth, window.innerHeight]};
}
"#;

/// Opens the … menu of the scoped key `name` with a click and checks that
/// all of it shows and each item takes a click.
async fn menu_shows_whole(b: &Browser, name: &str, width: u32) {
    let summary = format!(
        "//tr[contains(normalize-space(.), {name:?})]//details[contains(@class,'menu')]/summary"
    );
    b.c.find(Locator::XPath(&summary))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let seen = b.c.execute_async(MENU_SEEN, vec![]).await.unwrap();
    assert_eq!(seen["open"], true, "{seen}");
    assert_eq!(seen["items"], 4, "{seen}");
    assert_eq!(
        seen["inside"], true,
        "the menu of {name} at {width} px: {seen}"
    );
    assert_eq!(
        seen["covered"],
        json!([]),
        "the menu of {name} at {width} px: {seen}"
    );
    // A click elsewhere closes it.
    js(b, "document.querySelector('.page-head').click();").await;
    let open = js(
        b,
        "return document.querySelector('details.menu[open]') !== null;",
    )
    .await;
    assert_eq!(open, false);
}

async fn active(b: &Browser) -> String {
    js(b, "return document.activeElement.textContent.trim();")
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Waits (briefly) until focus is on the element whose text is `text`.
async fn focus_on(b: &Browser, text: &str, why: &str) {
    let what = format!("{why}: focus on {text:?}");
    eventually(&what, std::time::Duration::from_secs(3), async || {
        let now = active(b).await;
        if now == text {
            Ok(())
        } else {
            Err(format!("focus is on {now:?}"))
        }
    })
    .await;
}

async fn press(b: &Browser, key: Key) {
    let el = b.c.active_element().await.unwrap();
    el.send_keys(&char::from(key).to_string()).await.unwrap();
}

#[tokio::test]
async fn the_key_menu_floats_above_its_table_and_follows_the_keyboard() {
    let app = spawn_app().await;
    let org = org_with_two_accounts(&app).await;
    api_scoped_key(&app, &org, "Alpha reporting").await;
    api_scoped_key(&app, &org, "Beta billing").await;
    let Some(b) = browser(&app, "screens-menu").await else {
        return;
    };
    b.sign_in(&org.owner.email, PASSWORD).await;
    let keys = format!("/app/orgs/{}/settings/developer/api-keys", org.org_id);
    for width in [1280, 390] {
        set_width(&b, width).await;
        b.go(&keys).await;
        b.wait_for_text("Scoped API keys").await;
        // The last row's menu is the one a scrolling table clipped most.
        for name in ["Beta billing", "Alpha reporting"] {
            menu_shows_whole(&b, name, width).await;
        }
    }

    // The keyboard, as WAI-ARIA's menu button: Enter opens it with focus on
    // the first item, arrows move and wrap, Escape closes it and gives focus
    // back to the button.
    set_width(&b, 1280).await;
    b.go(&keys).await;
    b.wait_for_text("Scoped API keys").await;
    let summary = b
        .c
        .find(Locator::XPath(
            "//tr[contains(normalize-space(.), 'Alpha reporting')]//details[contains(@class,'menu')]/summary",
        ))
        .await
        .unwrap();
    assert_eq!(
        summary.attr("aria-haspopup").await.unwrap().as_deref(),
        Some("menu")
    );
    b.c.execute(
        "arguments[0].focus();",
        vec![serde_json::to_value(&summary).unwrap()],
    )
    .await
    .unwrap();
    focus_on(&b, "…", "focused").await;
    press(&b, Key::Enter).await;
    focus_on(&b, "Regenerate", "Enter opens the menu").await;
    assert_eq!(
        summary.attr("aria-expanded").await.unwrap().as_deref(),
        Some("true")
    );
    press(&b, Key::Down).await;
    focus_on(&b, "Duplicate", "ArrowDown").await;
    press(&b, Key::Up).await;
    press(&b, Key::Up).await;
    focus_on(&b, "Delete", "ArrowUp wraps to the last item").await;
    press(&b, Key::Home).await;
    focus_on(&b, "Regenerate", "Home").await;
    press(&b, Key::Escape).await;
    let state = js(
        &b,
        "return [document.querySelector('details.menu[open]') === null, document.activeElement.tagName];",
    )
    .await;
    assert_eq!(
        state,
        json!([true, "SUMMARY"]),
        "Escape closes and returns focus"
    );
    press(&b, Key::Down).await;
    focus_on(&b, "Regenerate", "ArrowDown on the button opens the menu").await;
    press(&b, Key::Escape).await;
    b.close().await;
}
