//! serverless-wasm: many small, sandboxed WebAssembly functions behind one HTTP server.
//!
//! A request flows top to bottom through these modules: [`server`] accepts
//! it ([`tls`] for HTTPS) and [`service`] takes it from there: the current
//! [`deployment`] (swapped whole by [`reload`]) routes it through [`router`]
//! to an app, [`admission`] gives it a turn (or a 503), the [`app`] runs an
//! instance through its guest ABI ([`abi`]), and the response goes back
//! through [`service`] with an access-log line and its [`metrics`].
//! Around that path: [`config`] (the TOML file), [`engine`] (the one wasmtime
//! engine), [`compile_cache`] (compiled code kept on disk across start-ups),
//! [`componentize`] (wit-bindgen core modules made components at load),
//! [`outbound`] (what guests may connect to), [`kv`] (the key-value stores
//! guests keep state in), [`context`] (what a guest may reach of its app),
//! [`spin`] (Spin apps' `spin.toml` and runtime config), [`logging`] and
//! [`signals`]. Beside the public listener, [`admin`] serves metrics, health
//! and a live dashboard.

pub mod abi;
pub mod admin;
pub mod admission;
pub mod app;
pub mod compile_cache;
pub mod componentize;
pub mod config;
pub mod context;
pub mod deployment;
pub mod engine;
pub mod fetch;
pub mod kv;
pub mod logging;
pub mod metrics;
pub mod outbound;
pub mod reload;
pub mod router;
pub mod server;
pub mod service;
pub mod signals;
pub mod sources;
pub mod spin;
pub mod tls;
