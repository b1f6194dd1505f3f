//! Keygate's server: the HTTP surfaces, the services behind them and the
//! `keygate` command.

pub mod access;
pub mod app;
pub mod audit;
pub mod cache;
pub mod cli;
pub mod clock;
pub mod config;
pub mod cookies;
pub mod data_dir;
pub mod demo;
pub mod dev;
pub mod gateway;
pub mod http;
pub mod known;
pub mod links;
pub mod listen;
pub mod notify;
pub mod openapi;
pub mod ratelimit;
pub mod request_id;
pub mod secrets;
pub mod serve;
pub mod service;
pub mod sync;
pub mod ui;
