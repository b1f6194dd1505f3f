//! Tests of the mails: subjects, bodies and what they never contain.

use super::*;
use serde_json::json;

#[test]
fn subject_names_the_key_and_what_happened_and_html_is_escaped() {
    let p = json!({"id": "evt_1", "name": "scoped_key.regenerated", "created_at": "2026-05-12T00:00:00.000Z",
        "org_id": "org_1", "data": {"key_name": "billing-sync", "key_kind": "scoped", "client_id": "cid_1",
        "actor": {"email": "dev@acme.test", "user_id": "usr_1"}, "source_ip": "203.0.113.9"}});
    let m = render(&p, "Acme <&>", "owner@acme.test", "dlv_1");
    assert_eq!(m.subject, "Scoped API key 'billing-sync' was regenerated");
    assert!(m.text.contains("Who: dev@acme.test (usr_1)"));
    assert!(m.text.contains("When: 2026-05-12 00:00:00 UTC"));
    assert!(m.text.contains("From IP: 203.0.113.9"));
    assert!(m.html.contains("Acme &lt;&amp;&gt;"));
    assert!(m.text.lines().all(|l| l.len() <= 78));
}

#[test]
fn a_quota_threshold_mail_says_how_much_was_used_and_what_happens_at_100() {
    let p = json!({"id": "evt_3", "name": "quota.threshold", "created_at": "2026-05-12T00:00:00.000Z",
        "org_id": "org_1", "account_id": null, "data": {"org_id": "org_1", "external_id": "cus_1",
        "period": "day", "period_start": "2026-05-12T00:00:00.000Z", "requests": 1000, "used": 800,
        "percent": 80}});
    let m = render(&p, "Acme", "owner@acme.test", "dlv_3");
    assert_eq!(m.subject, "Acme used 80 % of its daily quota");
    assert!(m.text.contains("Used: 800 (80 %)"), "{}", m.text);
    assert!(m.text.contains("1000 requests per UTC day"));
    let mut full = p.clone();
    full["data"]["percent"] = json!(100);
    full["data"]["period"] = json!("month");
    let m = render(&full, "Acme", "owner@acme.test", "dlv_4");
    assert_eq!(m.subject, "Acme used 100 % of its monthly quota");
    assert!(m.text.contains("quota_exceeded"));
    assert!(m.text.lines().all(|l| l.len() <= 78));
}

#[test]
fn an_unused_key_mail_says_since_when_and_what_to_do() {
    let p = json!({"id": "evt_2", "name": "admin_key.unused", "created_at": "2026-05-12T00:00:00.000Z",
        "org_id": "org_1", "data": {"key_name": "Admin key for HK", "key_kind": "admin", "client_id": "cid_1",
        "actor": {"email": null, "user_id": null}, "source_ip": null,
        "last_used_at": "2026-02-01T10:00:00.000Z", "unused_days": 90}});
    let m = render(&p, "Acme", "owner@acme.test", "dlv_2");
    assert_eq!(
        m.subject,
        "Admin API key 'Admin key for HK' was not used for 90 days"
    );
    assert!(
        m.text.contains("Last used: 2026-02-01 10:00:00 UTC"),
        "{}",
        m.text
    );
    assert!(m.text.contains("delete it"));
    assert!(!m.text.contains("From IP"));
    assert!(m.text.lines().all(|l| l.len() <= 78));
}

#[test]
fn lifecycle_mails_say_what_happens_and_name_no_person() {
    let p = json!({"id": "evt_2", "name": "admin_key.expiring", "created_at": "2026-05-12T00:00:00.000Z",
        "org_id": "org_1", "data": {"key_name": "Admin key for HK", "key_kind": "admin", "client_id": "cid_1",
        "actor": {"email": null, "user_id": null}, "source_ip": null,
        "expires_at": "2026-05-19T00:00:00.000Z", "expires_within_days": 7}});
    let m = render(&p, "Acme", "owner@acme.test", "dlv_2");
    assert_eq!(
        m.subject,
        "Admin API key 'Admin key for HK' expires within 7 days"
    );
    assert!(m.text.contains("Key expires: 2026-05-19 00:00:00 UTC"));
    assert!(m.text.contains("Who: Keygate, on schedule"));
    assert!(!m.text.contains("From IP"));
    let p = json!({"id": "evt_3", "name": "scoped_key.regenerated", "created_at": "2026-05-12T00:00:00.000Z",
        "org_id": "org_1", "data": {"key_name": "k", "key_kind": "scoped", "client_id": "cid_1",
        "actor": {"email": "dev@acme.test", "user_id": "usr_1"}, "source_ip": "203.0.113.9",
        "previous_secret_expires_at": "2026-05-13T00:00:00.000Z"}});
    let m = render(&p, "Acme", "owner@acme.test", "dlv_3");
    assert!(
        m.text
            .contains("Old secret works until: 2026-05-13 00:00:00 UTC")
    );
}
