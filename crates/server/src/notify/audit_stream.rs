//! Audit streams: an organization's hash chain sent on in seq order, as
//! signed JSON lines over HTTPS (the webhook client, its SSRF rules and its
//! signature) or as RFC 5424 syslog messages over TCP with RFC 6587 octet
//! counting. A leased stream gets the events after its `delivered_seq`
//! (at most `BATCH`), and moves on only once the receiver took them all:
//! at least once, in order, never skipping a seq.

use keygate_core::time::format_rfc3339;
use keygate_store::{AuditEvent, AuditQuery, AuditStreamRecord};
use tokio::io::AsyncWriteExt as _;

use super::attempt::retry_delay_ms;
use super::attempt::{Failure, Sent};
use super::ssrf;
use super::webhook::Post;
use super::webhook::WebhookClient;
use crate::state::app::App;
use crate::state::clock::now_ms;
use keygate_core::crypto::Pepper;

/// Events per POST or per TCP connection.
const BATCH: u32 = 100;

/// The jsonl stream's signing secret: derived from the pepper, so the
/// database alone does not hold it.
pub fn signing_secret(pepper: &Pepper, s: &AuditStreamRecord) -> String {
    let d =
        pepper.digest(format!("audit-stream-secret:{}:{}", s.stream_id, s.secret_salt).as_bytes());
    format!("whsec_{}", d.to_hex())
}

/// `tcp://host:port` as a target the SSRF rules check.
pub fn tcp_target(url: &str) -> Result<ssrf::Target, String> {
    let rest = url
        .strip_prefix("tcp://")
        .ok_or("must be tcp://host:port")?;
    let (host, port) = rest.rsplit_once(':').ok_or("must be tcp://host:port")?;
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or("must end with a port from 1 to 65535")?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains(['/', '@', ' ', '?', '#']) {
        return Err("must be tcp://host:port".into());
    }
    Ok(ssrf::Target {
        https: false,
        host: host.to_ascii_lowercase(),
        port,
        authority: rest.to_owned(),
        path_and_query: "/".into(),
    })
}

/// One RFC 5424 message (facility log audit, severity informational) in an
/// RFC 6587 octet-counted frame; the MSG is the event's JSON.
pub fn syslog_frame(e: &AuditEvent) -> Vec<u8> {
    let msg = format!(
        "<110>1 {} - keygate - audit - {}",
        format_rfc3339(e.occurred_at),
        e.document()
    );
    format!("{} {msg}", msg.len()).into_bytes()
}

pub(super) async fn deliver(app: &App, webhooks: &WebhookClient, s: AuditStreamRecord) {
    let events = match app
        .store
        .audit_events(&AuditQuery {
            org_id: s.org_id.clone(),
            client_id: None,
            before: None,
            after: Some(s.delivered_seq),
            actor: None,
            action: None,
            limit: BATCH,
        })
        .await
    {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, stream_id = %s.stream_id, "could not read the audit events to stream");
            return;
        }
    };
    let Some(last) = events.last().map(|e| e.seq) else {
        let _ = app
            .store
            .audit_stream_sent(&s.stream_id, s.delivered_seq, s.delivered_seq, now_ms())
            .await;
        return;
    };
    let insecure = app.settings.notify.allow_insecure_webhooks;
    let result = if s.format == "syslog" {
        send_syslog(&s.url, insecure, &events).await
    } else {
        let body: String = events
            .iter()
            .map(|e| format!("{}\n", e.document()))
            .collect();
        let secret = signing_secret(&app.pepper, &s);
        let batch_id = format!("{}:{}-{last}", s.stream_id, s.delivered_seq + 1);
        webhooks
            .post(&Post {
                url: &s.url,
                secret: &secret,
                event_id: &batch_id,
                event_name: "audit.events",
                delivery_id: s.stream_id.as_str(),
                body: &body,
                timestamp_ms: now_ms(),
                content_type: "application/x-ndjson",
            })
            .await
    };
    let now = now_ms();
    let recorded = match result {
        Ok(_) => {
            tracing::info!(stream_id = %s.stream_id, from = s.delivered_seq + 1, to = last, "audit events streamed");
            app.store
                .audit_stream_sent(&s.stream_id, s.delivered_seq, last, now)
                .await
                .map(|_| ())
        }
        Err(f) => {
            let attempt = u32::try_from(s.attempts + 1).unwrap_or(u32::MAX);
            let next = now + retry_delay_ms(app.settings.notify.retry_base_ms, attempt);
            tracing::warn!(stream_id = %s.stream_id, attempt, error = %f.error, "audit stream attempt failed");
            app.store
                .audit_stream_failed(&s.stream_id, &f.error, next, now)
                .await
        }
    };
    if let Err(e) = recorded {
        // The lease runs out and the batch is sent again: at least once.
        tracing::error!(error = %e, stream_id = %s.stream_id, "could not record an audit stream attempt");
    }
}

async fn send_syslog(url: &str, insecure: bool, events: &[AuditEvent]) -> Result<Sent, Failure> {
    let target =
        tcp_target(url).map_err(|e| Failure::new(None, format!("refused: the URL {e}")))?;
    let addrs = ssrf::resolve(&target, insecure)
        .await
        .map_err(|e| Failure::new(None, format!("refused: the URL {e}")))?;
    let frames: Vec<u8> = events.iter().flat_map(syslog_frame).collect();
    let send = async {
        let mut last = String::from("no address to connect to");
        for a in &addrs {
            match tokio::net::TcpStream::connect(a).await {
                Ok(mut tcp) => {
                    tcp.write_all(&frames)
                        .await
                        .map_err(|e| Failure::new(None, format!("could not send: {}", e.kind())))?;
                    tcp.flush()
                        .await
                        .map_err(|e| Failure::new(None, format!("could not send: {}", e.kind())))?;
                    let _ = tcp.shutdown().await;
                    return Ok(Sent { status_code: None });
                }
                Err(e) => last = format!("could not connect: {}", e.kind()),
            }
        }
        Err(Failure::new(None, last))
    };
    match tokio::time::timeout(std::time::Duration::from_secs(10), send).await {
        Ok(r) => r,
        Err(_) => Err(Failure::new(None, "timed out after 10 s")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_urls_name_a_host_and_port() {
        let t = tcp_target("tcp://127.0.0.1:6514").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("127.0.0.1", 6514));
        assert!(tcp_target("tcp://[::1]:514").is_ok());
        for bad in [
            "udp://h:1",
            "tcp://h",
            "tcp://h:0",
            "tcp://:5",
            "tcp://u@h:5",
        ] {
            assert!(tcp_target(bad).is_err(), "{bad}");
        }
    }
}
