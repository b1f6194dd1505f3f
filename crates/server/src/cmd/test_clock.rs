//! `serve --test-clock` (hidden, for tests): `POST /_test/clock
//! {"advance_ms": N}` moves the server's clock forward by N ms and answers
//! `{"now_ms"}`. Without the flag the route does not exist.

use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::state::clock;

#[derive(Deserialize)]
struct Advance {
    advance_ms: i64,
}

pub fn router() -> Router {
    Router::new().route("/_test/clock", post(advance))
}

async fn advance(Json(body): Json<Advance>) -> Json<Value> {
    clock::advance(body.advance_ms);
    Json(json!({"now_ms": clock::now_ms()}))
}
