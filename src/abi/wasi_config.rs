//! `wasi:config/store` for components, serving the app's `variables` (a
//! Spin component's variables, other apps' `env`), at both versions guests
//! import: `0.2.0-draft-2024-09-27` (Spin) and `0.2.0-rc.1`
//! (`wasmtime serve -S config`). Bindings come from the
//! vendored WIT in `wit/`; the two versions have the same functions, so one
//! macro implements both over their generated types.

use wasmtime::component::{HasData, Linker};

/// What the host functions reach: the app's config values.
pub struct ConfigView<'a> {
    pub variables: &'a [(String, String)],
}

struct HasConfig;

impl HasData for HasConfig {
    type Data<'a> = ConfigView<'a>;
}

mod spin {
    wasmtime::component::bindgen!({
        path: "wit/config-0.2.0-draft-2024-09-27",
        world: "wasi:config/imports",
    });
}

mod rc1 {
    wasmtime::component::bindgen!({
        path: "wit/config-0.2.0-rc.1",
        world: "wasi:config/imports",
    });
}

/// Adds both versions of `wasi:config/store` to `linker`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> ConfigView<'_>,
) -> wasmtime::Result<()> {
    spin::wasi::config::store::add_to_linker::<T, HasConfig>(linker, view)?;
    rc1::wasi::config::store::add_to_linker::<T, HasConfig>(linker, view)
}

macro_rules! config_store {
    ($version:ident) => {
        impl $version::wasi::config::store::Host for ConfigView<'_> {
            fn get(
                &mut self,
                key: String,
            ) -> Result<Option<String>, $version::wasi::config::store::Error> {
                let value = self.variables.iter().find(|(name, _)| *name == key);
                Ok(value.map(|(_, value)| value.clone()))
            }

            fn get_all(
                &mut self,
            ) -> Result<Vec<(String, String)>, $version::wasi::config::store::Error> {
                Ok(self.variables.to_vec())
            }
        }
    };
}

config_store!(spin);
config_store!(rc1);
