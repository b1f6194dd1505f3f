//! A request body that trickles in, stops short of its `Content-Length` or
//! never finishes its chunk is cut off: 408 and the connection closed, on
//! every surface that reads bodies, within `--body-timeout` (the whole body)
//! or sooner by `--body-min-rate`. Raw TCP, since no client library sends
//! such bodies.

use std::time::Duration;

use serde_json::json;

use crate::gateway::echo_upstream;
use crate::helpers::*;
use crate::raw_http::{Then, exchange, head};

/// The surfaces that read a body: the management API, the app's forms, the
/// gateway's proxied bodies, introspection and the secret-scanning intake.
struct Surface {
    path: String,
    content_type: &'static str,
    bearer: Option<String>,
    /// The app answers with a page, the rest in JSON.
    page: bool,
}

async fn surfaces(app: &TestApp) -> Vec<Surface> {
    let org = app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let sk = app
        .scoped_key(
            &org,
            json!({"name": "w", "account_permissions": {"accounts": [&org.accounts[0]],
                   "resources": perms(&[("payment_intents", "write")])}}),
        )
        .await;
    let token = app.token(&sk, None).await;
    let json = "application/json";
    let form = "application/x-www-form-urlencoded";
    let s = |path: &str, content_type, bearer: Option<&str>, page| Surface {
        path: path.to_owned(),
        content_type,
        bearer: bearer.map(str::to_owned),
        page,
    };
    vec![
        s("/dev/v1/sessions", json, None, false),
        s(
            &format!("/dev/v1/orgs/{}/accounts", org.org_id),
            json,
            Some(&org.owner.token),
            false,
        ),
        s("/app/sign-in", form, None, true),
        s(
            "/api/v1/pa/payment_intents/create",
            json,
            Some(&token),
            false,
        ),
        s("/oauth/introspect", form, None, false),
        s("/secret-scanning/github", json, None, false),
        s(
            "/secret-scanning/gitlab/v1/revoke_tokens",
            json,
            None,
            false,
        ),
    ]
}

fn first_bytes(s: &Surface, framing: &str) -> Vec<u8> {
    let auth = s.bearer.as_ref().map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", s.content_type)];
    if let Some(a) = &auth {
        headers.push(("authorization", a.as_str()));
    }
    let (framing_header, start): ((&str, &str), &[u8]) = match framing {
        // Declares 1,000 bytes and sends 10 now.
        "length" => (("content-length", "1000"), b"{\"email\":\""),
        // A chunk of 0x100 bytes of which 5 come.
        "chunked" => (("transfer-encoding", "chunked"), b"100\r\nabcde"),
        _ => unreachable!(),
    };
    headers.push(framing_header);
    let mut req = head("POST", &s.path, &headers);
    req.extend_from_slice(start);
    req
}

#[tokio::test]
async fn slow_short_and_unfinished_bodies_are_408_and_closed_on_every_surface() {
    let up = echo_upstream().await;
    let upstream = format!("http://{up}");
    let app = spawn_app_with(&["--upstream", &upstream, "--body-timeout", "2"], &[]).await;
    let surfaces = surfaces(&app).await;
    let cases = [
        // One byte every 300 ms, then a body shorter than its length, then a
        // chunk that never ends.
        ("length", Then::Trickle(Duration::from_millis(300))),
        ("length", Then::Stall),
        ("chunked", Then::Stall),
        ("chunked", Then::Trickle(Duration::from_millis(300))),
    ];
    let mut runs = Vec::new();
    for s in &surfaces {
        for (framing, then) in cases {
            let req = first_bytes(s, framing);
            let base = app.base.clone();
            let label = format!("{} {framing} {then:?}", s.path);
            runs.push(async move {
                let r = exchange(&base, &req, then, Duration::from_secs(15)).await;
                (label, s.page, r)
            });
        }
    }
    for (label, page, r) in futures_join_all(runs).await {
        assert_eq!(r.status, 408, "{label}: {} {}", r.head, r.body);
        assert!(r.closed, "{label}: the connection stays open");
        let secs = r.answered_after.as_secs_f64();
        assert!(
            (1.5..6.0).contains(&secs),
            "{label}: answered after {secs} s"
        );
        if page {
            assert!(r.head.contains("content-type: text/html"), "{label}");
            assert!(r.body.contains("took too long"), "{label}");
        } else {
            assert_eq!(r.json()["code"], "request_timeout", "{label}: {}", r.body);
        }
    }
    assert!(
        app.wait_for_log("request body refused", 10).await,
        "no log line says why"
    );
}

/// Login ignores any body (API.md): it answers at once, never waits for a
/// slow one, and closes the connection since the body was not read.
#[tokio::test]
async fn login_answers_without_waiting_for_a_slow_body() {
    let app = spawn_app_with(&["--body-timeout", "30"], &[]).await;
    let mut req = head(
        "POST",
        "/api/v1/authentication/login",
        &[
            ("x-client-id", "cli_nope"),
            ("x-api-key", "kg_live_nope"),
            ("content-length", "1000"),
        ],
    );
    req.extend_from_slice(b"{");
    let r = exchange(
        &app.base,
        &req,
        Then::Trickle(Duration::from_millis(300)),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.closed);
    assert!(r.answered_after < Duration::from_secs(2));
}

#[tokio::test]
async fn a_body_slower_than_the_minimum_rate_is_cut_off_before_the_deadline() {
    let app = spawn_app_with(&["--body-timeout", "60", "--body-min-rate", "1000"], &[]).await;
    let mut req = head(
        "POST",
        "/dev/v1/sessions",
        &[
            ("content-type", "application/json"),
            ("content-length", "1000"),
        ],
    );
    req.extend_from_slice(b"{\"email\":\"");
    let r = exchange(
        &app.base,
        &req,
        Then::Trickle(Duration::from_millis(300)),
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(r.status, 408, "{}", r.body);
    assert_eq!(r.json()["code"], "request_timeout");
    assert!(r.closed);
    // 5 s of grace, then 1,000 bytes a second: about 5 s, far from 60.
    let secs = r.answered_after.as_secs_f64();
    assert!((4.5..9.0).contains(&secs), "answered after {secs} s");
    assert!(app.wait_for_log("reason=\"min_rate\"", 5).await);
}

/// A body that comes in a few pieces at a fair pace reaches the handler.
#[tokio::test]
async fn a_body_sent_in_pieces_at_a_fair_pace_is_read() {
    let app = spawn_app_with(&["--body-timeout", "3"], &[]).await;
    app.create_org("Acme", "owner@acme.test", &["HK"]).await;
    let body = format!(r#"{{"email":"owner@acme.test","password":"{PASSWORD}"}}"#);
    let len = body.len().to_string();
    let mut req = head(
        "POST",
        "/dev/v1/sessions",
        &[
            ("content-type", "application/json"),
            ("content-length", &len),
            ("connection", "close"),
        ],
    );
    let (a, rest) = body.as_bytes().split_at(10);
    req.extend_from_slice(a);
    let stream = tokio::net::TcpStream::connect(crate::raw_http::addr(&app.base))
        .await
        .unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut rd, mut wr) = stream.into_split();
    wr.write_all(&req).await.unwrap();
    for piece in rest.chunks(rest.len() / 3 + 1) {
        // Fixed: the pace is the test (slow, yet within --body-timeout).
        tokio::time::sleep(Duration::from_millis(400)).await;
        wr.write_all(piece).await.unwrap();
    }
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), rd.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let token = answer
        .split("\"session_token\":\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .unwrap();
    app.remember(token);
}

/// All futures at once (they borrow, so they are polled together rather
/// than spawned), their outputs in order.
pub(crate) async fn futures_join_all<F: std::future::Future>(futs: Vec<F>) -> Vec<F::Output> {
    let futs: Vec<_> = futs.into_iter().map(Box::pin).collect();
    let mut outs: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    let mut futs: Vec<Option<_>> = futs.into_iter().map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, slot) in futs.iter_mut().enumerate() {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        outs[i] = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outs.into_iter().map(Option::unwrap).collect()
}
