//! Keygate's HTTP integration tests: one binary (link time is the CI cost),
//! each test against its own `keygate` process and database: SQLite by default,
//! PostgreSQL with `KEYGATE_TEST_DATABASE=postgres`. `multi` always uses
//! PostgreSQL (and skips loudly without it, except on CI).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod allowlists;
mod cli;
mod examples;
mod forward_auth;
mod gateway;
mod keys;
mod leaks;
mod lifecycle;
mod limits;
mod login;
mod management;
mod metrics;
mod multi;
mod notify;
mod openapi;
mod operate;
mod people;
mod quickstart;
mod rate_limits;
mod readiness;
mod receivers;
mod rejections;
mod request_ids;
mod speed;
mod surface;
mod two_factor;
mod ui;
mod upgrade;
mod usage;
