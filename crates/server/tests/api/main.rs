//! Keygate's HTTP integration tests: one binary (link time is the CI cost),
//! each test against its own `keygate` process and database: SQLite by default,
//! PostgreSQL with `KEYGATE_TEST_DATABASE=postgres`. `multi` always uses
//! PostgreSQL (and skips loudly without it, except on CI).
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The tests keep the real clock (and may pause a thread); they move the
// server's clock with `advance_clock`.
#![allow(clippy::disallowed_methods)]

mod helpers;

mod allowlists;
mod audit_chain;
mod audit_queue;
mod audit_streams;
mod cli;
mod client_addr;
mod credits;
mod docs;
mod dpop;
mod examples;
mod federation;
mod forward_auth;
mod gateway;
mod inviters;
mod keys;
mod leaks;
mod lifecycle;
mod limits;
mod login;
mod mail_files;
mod management;
mod metrics;
mod multi;
mod notify;
mod oauth;
mod openapi;
mod openapi_check;
mod operate;
mod operator;
mod operator_webhooks;
mod passkeys;
mod people;
mod prefixes;
mod quickstart;
mod quotas;
mod rate_limits;
mod raw_http;
mod readiness;
mod receivers;
mod rejections;
mod request_ids;
mod second_factor;
mod shutdown;
mod slow_bodies;
mod speed;
mod sso;
mod surface;
mod tls;
mod two_factor;
mod ui;
mod upgrade;
mod upstream;
mod usage;
