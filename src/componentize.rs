//! Making components of core modules that were built to become one: a core
//! module carrying wit-bindgen's component type (a `component-type*` custom
//! section) is encoded into a component, with the WASI preview 1 reactor
//! adapter standing in for its `wasi_snapshot_preview1` imports. This is what
//! Spin does at load with its SDK's `wasm32-wasip1` builds (they import
//! `fermyon:spin/*` and `wasi:http/*` through wit-bindgen and export
//! `wasi:http/incoming-handler`), so those apps run here unchanged.
//!
//! Every other binary is left as it is: components, classic modules and CGI
//! (wagi) commands carry no component type. [`crate::fetch`] calls
//! [`componentize_if_typed`] on every module it hands on, so `serve`, `check`,
//! `run` and reloads all compile the same bytes.

use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wasmparser::{Chunk, Parser, Payload};

/// The prefix of the custom sections wit-bindgen embeds its component type
/// in (`component-type:wit-bindgen:<version>:<world>:encoded world`, or just
/// `component-type`), as wit-component looks for them.
const COMPONENT_TYPE_SECTION: &str = "component-type";

/// `wasm` as it is to be compiled: a component when it is a core module
/// carrying a component type, otherwise `wasm` itself, untouched.
pub fn componentize_if_typed(wasm: Vec<u8>) -> Result<Vec<u8>, String> {
    if !has_component_type(&wasm) {
        return Ok(wasm);
    }
    componentize(&wasm).map_err(|e| format!("cannot make a component of this wasip1 module: {e:#}"))
}

/// Whether `wasm` is a core module with a `component-type*` custom section.
/// Anything unreadable answers `false`: compiling it says what is wrong.
pub fn has_component_type(wasm: &[u8]) -> bool {
    if !Parser::is_core_wasm(wasm) {
        return false;
    }
    let mut parser = Parser::new(0);
    let mut offset = 0;
    loop {
        let Ok(Chunk::Parsed { consumed, payload }) = parser.parse(&wasm[offset..], true) else {
            return false;
        };
        offset += consumed;
        match payload {
            Payload::CustomSection(section)
                if section.name().starts_with(COMPONENT_TYPE_SECTION) =>
            {
                return true;
            }
            // Function bodies are most of a module and never a custom section.
            Payload::CodeSectionStart { size, .. } => {
                parser.skip_section();
                offset += size as usize;
            }
            Payload::End(_) => return false,
            _ => {}
        }
    }
}

/// Encodes a core module carrying a component type into a component, its
/// `wasi_snapshot_preview1` imports served by the reactor adapter (which
/// imports WASI 0.2 in their stead; a module without them does not use it).
pub fn componentize(wasm: &[u8]) -> anyhow::Result<Vec<u8>> {
    wit_component::ComponentEncoder::default()
        .validate(true)
        .module(wasm)?
        .adapter(
            WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        )?
        .encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A world like a Spin SDK app's: an import of its own, the wasi:http
    /// export, nothing else.
    const WIT: &str = r#"
        package test:app;

        interface greeting {
            hello: func() -> u32;
        }

        interface handler {
            handle: func(n: u32) -> u32;
        }

        world app {
            import greeting;
            export handler;
        }
    "#;

    /// A core module of that world that also writes through WASI preview 1,
    /// as `wasm32-wasip1` builds do.
    const MODULE: &str = r#"
        (module
            (import "test:app/greeting" "hello" (func $hello (result i32)))
            (import "wasi_snapshot_preview1" "fd_write"
                (func $fd_write (param i32 i32 i32 i32) (result i32)))
            (memory (export "memory") 1)
            (func (export "test:app/handler#handle") (param i32) (result i32)
                (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 0)))
                (i32.add (local.get 0) (call $hello)))
            (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
                (i32.const 0))
        )
    "#;

    fn typed_module() -> Vec<u8> {
        let mut resolve = wit_parser::Resolve::default();
        let package = resolve.push_str("app.wit", WIT).unwrap();
        let world = resolve.select_world(&[package], Some("app")).unwrap();
        let mut wasm = wat::parse_str(MODULE).unwrap();
        wit_component::embed_component_metadata(
            &mut wasm,
            &resolve,
            world,
            wit_component::StringEncoding::UTF8,
        )
        .unwrap();
        wasm
    }

    #[test]
    fn a_typed_core_module_becomes_a_component_importing_wasi() {
        let module = typed_module();
        assert!(has_component_type(&module));
        let component = componentize_if_typed(module).unwrap();
        assert!(Parser::is_component(&component));

        let engine = wasmtime::Engine::default();
        let component = wasmtime::component::Component::new(&engine, &component).unwrap();
        let ty = component.component_type();
        let imports: Vec<_> = ty.imports(&engine).map(|(name, _)| name).collect();
        let exports: Vec<_> = ty.exports(&engine).map(|(name, _)| name).collect();
        assert!(imports.contains(&"test:app/greeting"), "{imports:?}");
        // fd_write, through the adapter.
        assert!(
            imports
                .iter()
                .any(|name| name.starts_with("wasi:io/streams@0.2")),
            "{imports:?}"
        );
        assert!(
            !imports.iter().any(|name| name.contains("preview1")),
            "{imports:?}"
        );
        assert_eq!(exports, ["test:app/handler"]);
    }

    #[test]
    fn modules_without_a_component_type_are_left_as_they_are() {
        let classic = wat::parse_str(
            r#"(module
                (import "env" "response_set_status" (func (param i32)))
                (memory (export "memory") 1)
                (func (export "handle")))"#,
        )
        .unwrap();
        let wagi = wat::parse_str(
            r#"(module
                (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
                (memory (export "memory") 1)
                (func (export "_start"))
                (@custom "name-of-something-else" "component-type"))"#,
        )
        .unwrap();
        let component = wat::parse_str("(component)").unwrap();
        for wasm in [classic, wagi, component, b"not wasm".to_vec()] {
            assert!(!has_component_type(&wasm));
            assert_eq!(componentize_if_typed(wasm.clone()).unwrap(), wasm);
        }
    }

    #[test]
    fn a_component_type_that_does_not_fit_is_a_clear_error() {
        // The world exports `handle`, but the module does not.
        let mut resolve = wit_parser::Resolve::default();
        let package = resolve.push_str("app.wit", WIT).unwrap();
        let world = resolve.select_world(&[package], Some("app")).unwrap();
        let mut wasm = wat::parse_str(r#"(module (memory (export "memory") 1))"#).unwrap();
        wit_component::embed_component_metadata(
            &mut wasm,
            &resolve,
            world,
            wit_component::StringEncoding::UTF8,
        )
        .unwrap();
        let error = componentize_if_typed(wasm).unwrap_err();
        assert!(
            error.starts_with("cannot make a component of this wasip1 module: "),
            "{error}"
        );
        assert!(
            error.contains("export of interface `test:app/handler` function `handle`"),
            "{error}"
        );
    }
}
