//! End-to-end tests: the real `serverless-wasm` binary, real HTTP over
//! loopback, real modules built from source in the repository.

#[path = "../support/debian.rs"]
mod debian;
mod harness;
#[path = "../support/moto.rs"]
mod moto;
#[path = "../support/redis_server.rs"]
mod redis_server;

mod admin;
mod admission;
mod classic_abi;
mod cli;
mod cluster;
mod concurrent_reuse;
mod config_errors;
mod dashboard;
mod examples;
mod faults;
mod hardening;
mod lazy_loading;
mod logs;
mod outbound;
mod reload;
mod routing;
mod server;
mod sources;
mod spin_apps;
mod spin_interfaces;
mod spin_manifests;
mod standard_guests;
mod state_classic;
mod state_components;
mod store_backends;
mod tls;
