//! The Spin interfaces this host provides ([`PROVIDED`]: key-value and
//! variables, [`super::spin_key_value`] and [`super::spin_variables`]), and
//! what becomes of a component that imports others (sqlite, redis, mqtt,
//! postgres, mysql, llm, ... at `fermyon:spin/*@2.0.0` or `spin:*@3.x/4.x`):
//! it still loads, each function of those interfaces trapping with an error
//! that names the interface, which the server logs with the request id.
//! Only imports in Spin's namespaces are stubbed so: any other import the
//! host lacks still refuses the component at load.
//!
//! `Linker::define_unknown_imports_as_traps` would stub every import the
//! linker lacks, Spin's or not, and a linker cannot be asked which imports
//! it defines (an exact-name check would miss the semver-compatible matches
//! it links by, `wasi:cli/environment@0.2.0` to `@0.2.6`), so it could not
//! keep other missing imports an error. [`link_with_traps`] does what it
//! does (a function that fails, `func_new_concurrent` for an `async func`;
//! a host resource type of `()`) for the Spin interfaces only.

use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, InstancePre, Linker, ResourceType};

/// The Spin interfaces this host implements, as components name them.
pub const PROVIDED: &[&str] = &[
    "fermyon:spin/key-value@2.0.0",
    "fermyon:spin/variables@2.0.0",
    "spin:key-value/key-value@3.0.0",
    "spin:variables/variables@3.0.0",
];

/// Whether `name` is an interface in one of Spin's namespaces.
fn is_spin(name: &str) -> bool {
    name.starts_with("fermyon:spin/") || name.starts_with("spin:")
}

/// Whether the linker has `name`: one of [`PROVIDED`], or a version of one
/// that wasmtime links to it as semver-compatible (`spin:x/y@3.0.1` to
/// `@3.0.0`: same major version, or same minor below 1.0, no pre-release).
fn is_provided(name: &str) -> bool {
    let key = semver_key(name);
    PROVIDED
        .iter()
        .any(|provided| *provided == name || (key.is_some() && semver_key(provided) == key))
}

/// The part of an interface name wasmtime matches semver-compatible
/// versions by: `a:b/c@1` for `a:b/c@1.2.3`, `a:b/c@0.2` for `a:b/c@0.2.1`;
/// `None` when versions must match exactly.
fn semver_key(name: &str) -> Option<String> {
    let (interface, version) = name.split_once('@')?;
    if version.contains('-') {
        return None;
    }
    let core = version.split('+').next()?;
    let mut numbers = core.split('.').map(|n| n.parse::<u64>().ok());
    let (Some(Some(major)), Some(Some(minor)), Some(Some(_)), None) = (
        numbers.next(),
        numbers.next(),
        numbers.next(),
        numbers.next(),
    ) else {
        return None;
    };
    match (major, minor) {
        (0, 0) => None,
        (0, minor) => Some(format!("{interface}@0.{minor}")),
        (major, _) => Some(format!("{interface}@{major}")),
    }
}

/// The Spin interfaces `component` imports that this host does not provide.
pub fn unprovided(component: &Component, linker: &Linker<impl Send>) -> Vec<String> {
    component
        .component_type()
        .imports(linker.engine())
        .map(|(name, _)| name)
        .filter(|name| is_spin(name) && !is_provided(name))
        .map(str::to_string)
        .collect()
}

/// Links `component` with `linker`, each interface of `stubbed` (names
/// from [`unprovided`]) made of functions that trap. `None` if it still does
/// not link: something else is missing or mismatched.
pub fn link_with_traps<T: Send + 'static>(
    linker: &Linker<T>,
    component: &Component,
    stubbed: &[String],
) -> Option<InstancePre<T>> {
    let mut linker = linker.clone();
    let engine = linker.engine().clone();
    let component_type = component.component_type();
    for name in stubbed {
        let Some(ComponentItem::ComponentInstance(instance)) = component_type
            .get_import(&engine, name)
            .map(|import| import.ty)
        else {
            return None;
        };
        let mut stub = linker.instance(name).ok()?;
        for (item, export) in instance.exports(&engine) {
            let (interface, function) = (name.clone(), item.to_string());
            let defined = match export.ty {
                // An `async func` import can only be given a concurrent function.
                ComponentItem::ComponentFunc(func) if func.async_() => {
                    stub.func_new_concurrent(item, move |_, _, _, _| {
                        let error = trap(&interface, &function);
                        Box::pin(async move { Err(error) })
                    })
                }
                ComponentItem::ComponentFunc(_) => {
                    stub.func_new(item, move |_, _, _, _| Err(trap(&interface, &function)))
                }
                ComponentItem::Resource(_) => {
                    stub.resource(item, ResourceType::host::<()>(), |_, _| Ok(()))
                }
                // Types need no definition; nothing else is in a WIT interface.
                _ => Ok(()),
            };
            defined.ok()?;
        }
    }
    linker.instantiate_pre(component).ok()
}

/// What a call to a stubbed function fails with.
fn trap(interface: &str, function: &str) -> wasmtime::Error {
    wasmtime::format_err!(
        "this host does not provide `{interface}` (the component called `{function}`)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A component importing Spin's sqlite (a resource and a function that
    /// uses it), plus `extra` imports, exporting `run`, which calls `close`.
    fn component(engine: &wasmtime::Engine, extra: &str) -> Component {
        let wat = format!(
            r#"(component
                (import "fermyon:spin/sqlite@2.0.0" (instance $sqlite
                    (export "connection" (type $c (sub resource)))
                    (export "close" (func (param "id" u32)))
                    (export "[static]connection.open" (func (param "name" string) (result (own $c))))
                ))
                {extra}
                (core func $close (canon lower (func $sqlite "close")))
                (core module $m
                    (import "" "close" (func $close (param i32)))
                    (func (export "run") (call $close (i32.const 1))))
                (core instance $i (instantiate $m (with "" (instance (export "close" (func $close))))))
                (func (export "run") (canon lift (core func $i "run")))
            )"#
        );
        Component::new(engine, wat).expect("test component")
    }

    #[test]
    fn unprovided_spin_interfaces_trap_when_called() {
        let engine = wasmtime::Engine::default();
        let linker = Linker::<()>::new(&engine);
        let component = component(&engine, "");
        assert!(linker.instantiate_pre(&component).is_err());
        let unprovided = unprovided(&component, &linker);
        assert_eq!(unprovided, ["fermyon:spin/sqlite@2.0.0"]);
        let pre = link_with_traps(&linker, &component, &unprovided).expect("links");
        let mut store = wasmtime::Store::new(&engine, ());
        let instance = pre.instantiate(&mut store).expect("instantiates");
        let run = instance
            .get_typed_func::<(), ()>(&mut store, "run")
            .expect("run");
        let error = run.call(&mut store, ()).expect_err("traps");
        assert_eq!(
            error.root_cause().to_string(),
            "this host does not provide `fermyon:spin/sqlite@2.0.0` (the component called `close`)"
        );
    }

    #[test]
    fn unprovided_async_functions_get_concurrent_stubs() {
        let mut config = wasmtime::Config::new();
        config
            .wasm_component_model_async(true)
            .concurrency_support(true);
        let engine = wasmtime::Engine::new(&config).expect("engine");
        let linker = Linker::<()>::new(&engine);
        let component = Component::new(
            &engine,
            r#"(component
                (import "spin:sqlite/sqlite@3.1.0" (instance
                    (export "connection" (type (sub resource)))
                    (export "execute" (func async (param "q" string) (result u32)))
                ))
            )"#,
        )
        .expect("test component");
        let unprovided = unprovided(&component, &linker);
        assert_eq!(unprovided, ["spin:sqlite/sqlite@3.1.0"]);
        assert!(link_with_traps(&linker, &component, &unprovided).is_some());
    }

    #[test]
    fn any_other_missing_import_still_refuses_the_component() {
        let engine = wasmtime::Engine::default();
        let linker = Linker::<()>::new(&engine);
        let other = r#"(import "example:other/thing@1.0.0" (instance (export "f" (func))))"#;
        let component = component(&engine, other);
        let unprovided = unprovided(&component, &linker);
        assert_eq!(unprovided, ["fermyon:spin/sqlite@2.0.0"]);
        assert!(link_with_traps(&linker, &component, &unprovided).is_none());
    }

    #[test]
    fn spin_namespaces() {
        assert!(is_spin("fermyon:spin/sqlite@2.0.0"));
        assert!(is_spin("spin:postgres/postgres@4.2.0"));
        assert!(!is_spin("wasi:keyvalue/store@0.2.0-draft2"));
        assert!(!is_spin("fermyon:spinach/x@1.0.0"));
    }

    #[test]
    fn semver_keys_as_wasmtime_matches_them() {
        assert_eq!(semver_key("a:b/c@1.2.3").as_deref(), Some("a:b/c@1"));
        assert_eq!(semver_key("a:b/c@0.2.1").as_deref(), Some("a:b/c@0.2"));
        assert_eq!(semver_key("a:b/c@0.0.1"), None);
        assert_eq!(semver_key("a:b/c@0.2.0-draft2"), None);
        assert_eq!(semver_key("a:b/c"), None);
    }

    #[test]
    fn provided_includes_semver_compatible_versions() {
        assert!(is_provided("fermyon:spin/key-value@2.0.0"));
        assert!(is_provided("spin:key-value/key-value@3.0.0"));
        assert!(is_provided("spin:variables/variables@3.1.0"));
        assert!(!is_provided("spin:key-value/key-value@4.0.0"));
        assert!(!is_provided("fermyon:spin/sqlite@2.0.0"));
        assert!(!is_provided("spin:sqlite/sqlite@3.1.0"));
        assert!(!is_provided("fermyon:spin/key-value"));
    }
}
