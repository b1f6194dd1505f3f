//! `/healthz` says the process is up; `/readyz` that the store answers and the
//! credential cache is fresh, for load balancers.

use crate::helpers::*;

#[tokio::test]
async fn readyz_is_200_when_the_store_answers_and_healthz_stays_up() {
    let app = spawn_app().await;
    let r = app.send(app.http.get(format!("{}/readyz", app.base))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, serde_json::json!({"status": "ready"}));
    let r = app
        .send(app.http.get(format!("{}/healthz", app.base)))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, serde_json::json!({"status": "ok"}));
    // Both are in the OpenAPI document.
    let r = app
        .send(app.http.get(format!("{}/openapi.json", app.base)))
        .await;
    let paths = &r.body["paths"];
    assert!(
        paths["/readyz"]["get"]["responses"]["503"].is_object(),
        "{paths}"
    );
    assert!(paths["/healthz"]["get"].is_object());
}
