//! Spin apps run unchanged: their `spin.toml` (manifest version 2) and
//! `runtime-config.toml`, read with the same care as the native config (every
//! problem with its file, line and key), then resolved into what this host
//! serves. This module owns reading them; the server's wiring takes the result.
//!
//! - [`manifest`]: `spin.toml` into a [`Manifest`]: the application, its
//!   variables, its `[[trigger.http]]` routes and its components; what this host
//!   does not implement is refused by name, what it can ignore is warned about.
//! - [`variables`]: `{{ name }}` templates, and the values of app variables from
//!   `SPIN_VARIABLE_<NAME>` environment variables or their defaults, secrets kept
//!   out of messages.
//! - [`hosts`]: `allowed_outbound_hosts` in Spin's `scheme://host:port` syntax,
//!   into [`crate::outbound::AllowedHosts`].
//! - [`runtime_config`]: `runtime-config.toml`'s key-value stores.
//! - [`files`]: a component's `files`, staged as Spin places them.
//! - [`headers`]: what a routed request looks like to a component.
//! - [`apps`]: all of it resolved into the apps and stores the server runs,
//!   mounted beside a native config's own apps.

pub mod apps;
pub mod files;
pub mod headers;
pub mod hosts;
pub mod manifest;
pub mod runtime_config;
pub mod variables;

mod component;
mod reader;
mod trigger;

#[cfg(test)]
mod tests;

pub use apps::load;
pub use manifest::{Manifest, is_spin_manifest};
pub use runtime_config::RuntimeConfig;
