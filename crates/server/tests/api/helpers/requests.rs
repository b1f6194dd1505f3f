//! Requests as a test sends them: each answer checked against `/openapi.json`
//! and searched for secrets shown before, and every secret remembered for
//! the log check; API-key login and the owner's calls on keys and audit events.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Org, PASSWORD, Resp, Session, TestApp, cid, secret};

impl TestApp {
    /// Like `req`, but a connection error (server gone) is `None`.
    pub async fn try_req(
        &self,
        method: Method,
        path: &str,
        session: Option<&Session>,
        body: Option<Value>,
    ) -> Option<Resp> {
        let mut rb = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(s) = session {
            rb = rb.bearer_auth(&s.token);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await.ok()?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.ok()?;
        let body: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        self.remember_fields(&body);
        Some(Resp {
            status,
            headers,
            body,
        })
    }

    fn remember_fields(&self, body: &Value) {
        let mut secrets = self.secrets.lock().unwrap();
        for field in ["api_key", "token", "session_token", "secret"] {
            if let Some(s) = body.get(field).and_then(Value::as_str) {
                secrets.push(s.to_owned());
            }
        }
    }

    /// A request with an optional session and JSON body; remembers any secret
    /// or token in the answer.
    pub async fn req(
        &self,
        method: Method,
        path: &str,
        session: Option<&Session>,
        body: Option<Value>,
    ) -> Resp {
        let mut rb = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(s) = session {
            rb = rb.bearer_auth(&s.token);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        self.send(rb).await
    }

    /// Sends the request; the answer must match `/openapi.json` where the
    /// document describes its path and method (`openapi_check`).
    pub async fn send(&self, rb: reqwest::RequestBuilder) -> Resp {
        let (client, req) = rb.build_split();
        let req = req.expect("request");
        let (method, path) = (req.method().to_string(), req.url().path().to_owned());
        let resp = client.execute(req).await.expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone()))
        };
        self.check_against_openapi(&method, &path, status, &headers, &body)
            .await;
        let mut secrets = self.secrets.lock().unwrap();
        // A secret is shown once: no later response may contain one seen before.
        if let Some(seen) = secrets.iter().find(|s| text.contains(s.as_str())) {
            panic!("a response repeats a secret shown earlier: {}…", &seen[..8]);
        }
        for field in ["api_key", "token", "session_token", "secret"] {
            if let Some(s) = body.get(field).and_then(Value::as_str) {
                secrets.push(s.to_owned());
            }
        }
        Resp {
            status,
            headers,
            body,
        }
    }

    async fn check_against_openapi(
        &self,
        method: &str,
        path: &str,
        status: StatusCode,
        headers: &reqwest::header::HeaderMap,
        body: &Value,
    ) {
        // The document is the binary's: fetched once per test process.
        static DOC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
        if DOC.get().is_none() {
            let doc: Value = self
                .http
                .get(format!("{}/openapi.json", self.base))
                .send()
                .await
                .expect("GET /openapi.json")
                .json()
                .await
                .expect("/openapi.json is JSON");
            let _ = DOC.set(doc);
        }
        let json = headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/json"));
        let doc = DOC.get().expect("set above");
        if let Err(e) = crate::openapi_check::check(doc, method, path, status.as_u16(), json, body)
        {
            panic!("{method} {path} does not match /openapi.json: {e}\nbody: {body}");
        }
    }

    pub async fn login(&self, client_id: &str, api_key: &str, login_as: Option<&str>) -> Resp {
        let mut rb = self
            .http
            .post(format!("{}/api/v1/authentication/login", self.base))
            .header("x-client-id", client_id)
            .header("x-api-key", api_key);
        if let Some(a) = login_as {
            rb = rb.header("x-login-as", a);
        }
        self.send(rb).await
    }

    /// Logs in and returns the token, asserting success.
    pub async fn token(&self, key: &Value, login_as: Option<&str>) -> String {
        let r = self.login(cid(key), secret(key), login_as).await;
        assert_eq!(r.status, 201, "login: {}", r.body);
        r.body["token"].as_str().unwrap().to_owned()
    }

    /// The org's audit events for `query` (`client_id=…&limit=…`), as the
    /// owner reads them: newest first.
    pub async fn audit_events(&self, org: &Org, query: &str) -> Vec<Value> {
        let path = format!("/dev/v1/orgs/{}/audit-events?{query}", org.org_id);
        let r = self.req(Method::GET, &path, Some(&org.owner), None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["events"].as_array().unwrap().clone()
    }

    pub async fn scoped_key(&self, org: &Org, body: Value) -> Value {
        let mut body = body;
        body["password"] = PASSWORD.into();
        let r = self
            .req(
                Method::POST,
                &format!("/dev/v1/orgs/{}/scoped-keys", org.org_id),
                Some(&org.owner),
                Some(body),
            )
            .await;
        assert_eq!(r.status, 201, "create scoped key: {}", r.body);
        r.body
    }

    /// A scoped key as its organization's owner reads it.
    pub async fn get_scoped_key(&self, org: &Org, client_id: &str) -> Value {
        let r = self
            .req(
                Method::GET,
                &format!("/dev/v1/orgs/{}/scoped-keys/{client_id}", org.org_id),
                Some(&org.owner),
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
    }

    pub async fn admin_key(&self, org: &Org, owner_id: &str) -> Value {
        let r = self
            .req(
                Method::POST,
                &format!("/dev/v1/orgs/{}/admin-keys", org.org_id),
                Some(&org.owner),
                Some(json!({"owner_id": owner_id, "password": PASSWORD})),
            )
            .await;
        assert_eq!(r.status, 201, "generate admin key: {}", r.body);
        r.body
    }

    /// Remembers a secret seen outside `req` (a page, a cookie) for the log check.
    pub fn remember(&self, secret: &str) {
        self.secrets.lock().unwrap().push(secret.to_owned());
    }
}
