//! Keygate's server: the HTTP surfaces, the services behind them and the
//! `keygate` command. The folders are the layers of ARCHITECTURE.md, top to
//! bottom: `cmd`; the surfaces `http`, `ui`, `gateway` and `openapi`, and
//! `tasks`; `middleware`; `service`; `notify`; `state`.

pub mod cmd;
pub mod gateway;
pub mod http;
pub mod middleware;
pub mod notify;
pub mod openapi;
pub mod service;
pub mod state;
pub mod tasks;
pub mod ui;
