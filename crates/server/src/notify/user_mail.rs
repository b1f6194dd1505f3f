//! Rendering a mail to one person (`keygate_store::UserMail`): the subject and
//! text the service wrote, with `{link}` replaced by the link's URL, which is
//! derived here from the nonce and the pepper (never logged, never stored).

use keygate_core::crypto::Pepper;
use keygate_store::MailLink;
use serde_json::Value;

use super::email::{Mail, esc};
use crate::state::links;

/// The mail of an outbox payload written by `outbox::user_mail_payload`, or
/// `None` when the payload is not one.
pub fn render(
    payload: &Value,
    public_url: &str,
    pepper: &Pepper,
    delivery_id: &str,
) -> Option<Mail> {
    if payload["type"] != keygate_store::outbox::USER_MAIL {
        return None;
    }
    let s = |k: &str| payload[k].as_str().unwrap_or("").to_owned();
    let link = match (
        payload["link"]["path"].as_str(),
        payload["link"]["nonce"].as_str(),
    ) {
        (Some(path), Some(nonce)) => Some(links::url(
            public_url,
            pepper,
            &MailLink {
                path: path.to_owned(),
                nonce: nonce.to_owned(),
            },
        )),
        _ => None,
    };
    let text = s("text");
    let with_link = |t: &str, l: &str| t.replace("{link}", l);
    let html_body = esc(&text)
        .split("\n\n")
        .map(|p| format!("<p>{}</p>", p.replace('\n', "<br>")))
        .collect::<String>();
    let html = match &link {
        Some(l) => with_link(&html_body, &format!("<a href=\"{0}\">{0}</a>", esc(l))),
        None => html_body,
    };
    Some(Mail {
        to: s("to"),
        subject: s("subject"),
        text: link
            .as_deref()
            .map_or(text.clone(), |l| with_link(&text, l)),
        html: format!(
            "<!doctype html><html><body style=\"font-family:sans-serif\">{html}</body></html>"
        ),
        message_id: format!("<{delivery_id}@keygate>"),
        file_stem: format!("{}-{delivery_id}", crate::state::clock::now_ms()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_link_is_put_in_text_and_html_and_the_payload_has_no_token() {
        let p = Pepper::new(b"0123456789abcdef0123456789abcdef");
        let (link, token) = links::new_link(&p, "/app/invitations/");
        let m = keygate_store::UserMail {
            to: "new@acme.test".into(),
            subject: "You are invited <b>".into(),
            text: "Join:\n{link}\n\nBye".into(),
            link: Some(link),
        };
        let stored = keygate_store::outbox::user_mail_payload(&m);
        assert!(!stored.contains(&token));
        let v: Value = serde_json::from_str(&stored).unwrap();
        let mail = render(&v, "http://127.0.0.1:9/", &p, "dlv_1").unwrap();
        let url = format!("http://127.0.0.1:9/app/invitations/{token}");
        assert!(mail.text.contains(&url));
        assert!(mail.html.contains(&format!("<a href=\"{url}\">")));
        assert_eq!(mail.subject, "You are invited <b>");
        assert!(render(&json!({"name": "scoped_key.created"}), "", &p, "d").is_none());
    }
}
