//! Keygate's HTTP integration tests: one binary (link time is the CI cost),
//! each test against its own `keygate` process and SQLite file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod cli;
mod gateway;
mod keys;
mod login;
mod management;
mod speed;
