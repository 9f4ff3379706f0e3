//! Turns a module's imported `env.memory` into a memory the module defines
//! itself, with the same limits, and exports.
//!
//! Why: an [`wasmtime::InstancePre`] can only close over imports that belong
//! to no store, and a host-created memory belongs to one. A defined memory of
//! the same type is indistinguishable to the guest (fresh, zeroed, same
//! minimum and maximum), so rewriting keeps every request pre-linked.

use std::ops::Range;

use anyhow::bail;
use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
use wasm_encoder::{
    ExportKind, ExportSection, ImportSection, MemorySection, MemoryType, RawSection,
};
use wasmparser::{Parser, Payload, TypeRef};

/// The export name given to the memory when the module exports it under no name.
const MEMORY_EXPORT: &str = "memory";
/// Used instead when the module already exports something else as `memory`.
const FALLBACK_MEMORY_EXPORT: &str = "__serverless_wasm_memory";

/// A module after the rewrite, with the name its memory is exported as.
pub struct Rewritten {
    pub wasm: Vec<u8>,
    pub memory_export: String,
}

/// Rewrites `wasm` when it imports `env.memory`; `Ok(None)` when it does not.
pub fn define_imported_memory(wasm: &[u8]) -> anyhow::Result<Option<Rewritten>> {
    let Some(memory) = imported_memory(wasm)? else {
        return Ok(None);
    };
    if memory.shared || memory.memory64 {
        bail!("import `env.memory` must be a 32-bit unshared memory");
    }
    let mut rewriter = Rewriter::new(RoundtripReencoder.memory_type(memory)?);
    for payload in Parser::new(0).parse_all(wasm) {
        rewriter.payload(wasm, payload?)?;
    }
    Ok(Some(rewriter.finish()))
}

fn imported_memory(wasm: &[u8]) -> anyhow::Result<Option<wasmparser::MemoryType>> {
    for payload in Parser::new(0).parse_all(wasm) {
        if let Payload::ImportSection(reader) = payload? {
            for import in reader.into_imports() {
                let import = import?;
                if let (("env", "memory"), TypeRef::Memory(ty)) =
                    ((import.module, import.name), import.ty)
                {
                    return Ok(Some(ty));
                }
            }
        }
    }
    Ok(None)
}

/// Copies sections through, dropping the memory import, putting the memory
/// first in the memory section and adding an export for it.
struct Rewriter {
    module: wasm_encoder::Module,
    memory: MemoryType,
    memory_emitted: bool,
    exports_emitted: bool,
    memory_export: String,
}

impl Rewriter {
    fn new(memory: MemoryType) -> Self {
        Self {
            module: wasm_encoder::Module::new(),
            memory,
            memory_emitted: false,
            exports_emitted: false,
            memory_export: MEMORY_EXPORT.to_string(),
        }
    }

    fn payload(&mut self, wasm: &[u8], payload: Payload<'_>) -> anyhow::Result<()> {
        match payload {
            Payload::Version { encoding, .. } => {
                if encoding != wasmparser::Encoding::Module {
                    bail!("a component cannot import `env.memory`");
                }
            }
            Payload::ImportSection(reader) => self.imports(reader)?,
            Payload::MemorySection(reader) => self.memories(reader)?,
            Payload::ExportSection(reader) => self.exports(reader)?,
            Payload::End(_) => self.emit_pending(u8::MAX),
            Payload::CodeSectionEntry(_) => {}
            other => {
                if let Some((id, range)) = other.as_section() {
                    self.raw(id, wasm, range);
                }
            }
        }
        Ok(())
    }

    fn imports(&mut self, reader: wasmparser::ImportSectionReader<'_>) -> anyhow::Result<()> {
        let mut imports = ImportSection::new();
        for import in reader.into_imports() {
            let import = import?;
            if (import.module, import.name) != ("env", "memory") {
                let ty = RoundtripReencoder.entity_type(import.ty)?;
                imports.import(import.module, import.name, ty);
            }
        }
        if !imports.is_empty() {
            self.module.section(&imports);
        }
        Ok(())
    }

    fn memories(&mut self, reader: wasmparser::MemorySectionReader<'_>) -> anyhow::Result<()> {
        let mut memories = MemorySection::new();
        memories.memory(self.memory);
        for memory in reader {
            memories.memory(RoundtripReencoder.memory_type(memory?)?);
        }
        self.module.section(&memories);
        self.memory_emitted = true;
        Ok(())
    }

    fn exports(&mut self, reader: wasmparser::ExportSectionReader<'_>) -> anyhow::Result<()> {
        self.emit_pending(section_order(wasm_encoder::SectionId::Export as u8));
        let mut exports = ExportSection::new();
        let mut memory_name = None;
        let mut names = Vec::new();
        for export in reader {
            let export = export?;
            if export.kind == wasmparser::ExternalKind::Memory && export.index == 0 {
                memory_name.get_or_insert_with(|| export.name.to_string());
            }
            names.push(export.name.to_string());
            exports.export(
                export.name,
                RoundtripReencoder.export_kind(export.kind)?,
                export.index,
            );
        }
        self.memory_export = match memory_name {
            Some(name) => name,
            None => {
                let name = free_export_name(&names);
                exports.export(name, ExportKind::Memory, 0);
                name.to_string()
            }
        };
        self.module.section(&exports);
        self.exports_emitted = true;
        Ok(())
    }

    fn raw(&mut self, id: u8, wasm: &[u8], range: Range<usize>) {
        if id != wasm_encoder::SectionId::Custom as u8 {
            self.emit_pending(section_order(id));
        }
        self.module.section(&RawSection {
            id,
            data: &wasm[range],
        });
    }

    /// Emits the memory and export sections the module lacks, once the next
    /// section to write (of order `next`) must come after them.
    fn emit_pending(&mut self, next: u8) {
        if !self.memory_emitted && next > section_order(wasm_encoder::SectionId::Memory as u8) {
            let mut memories = MemorySection::new();
            memories.memory(self.memory);
            self.module.section(&memories);
            self.memory_emitted = true;
        }
        if !self.exports_emitted && next > section_order(wasm_encoder::SectionId::Export as u8) {
            let mut exports = ExportSection::new();
            exports.export(MEMORY_EXPORT, ExportKind::Memory, 0);
            self.module.section(&exports);
            self.exports_emitted = true;
        }
    }

    fn finish(self) -> Rewritten {
        Rewritten {
            wasm: self.module.finish(),
            memory_export: self.memory_export,
        }
    }
}

fn free_export_name(taken: &[String]) -> &'static str {
    if taken.iter().any(|name| name == MEMORY_EXPORT) {
        FALLBACK_MEMORY_EXPORT
    } else {
        MEMORY_EXPORT
    }
}

/// The position a known section must take in a module (ids are not in order:
/// tag and data-count sections were added later with higher ids).
fn section_order(id: u8) -> u8 {
    use wasm_encoder::SectionId as S;
    const ORDER: [S; 13] = [
        S::Type,
        S::Import,
        S::Function,
        S::Table,
        S::Memory,
        S::Tag,
        S::Global,
        S::Export,
        S::Start,
        S::Element,
        S::DataCount,
        S::Code,
        S::Data,
    ];
    ORDER
        .iter()
        .position(|section| *section as u8 == id)
        .map_or(u8::MAX, |index| index as u8 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exports_of(wasm: &[u8]) -> Vec<(String, wasmparser::ExternalKind, u32)> {
        let mut found = Vec::new();
        for payload in Parser::new(0).parse_all(wasm) {
            if let Ok(Payload::ExportSection(reader)) = payload {
                for export in reader.into_iter().flatten() {
                    found.push((export.name.to_string(), export.kind, export.index));
                }
            }
        }
        found
    }

    fn rewrite(wat: &str) -> Rewritten {
        let wasm = wat::parse_str(wat).expect("test WAT parses");
        let rewritten = define_imported_memory(&wasm).expect("rewrite succeeds");
        let rewritten = rewritten.expect("module imports memory");
        wasmparser::Validator::new()
            .validate_all(&rewritten.wasm)
            .expect("rewritten module validates");
        rewritten
    }

    #[test]
    fn module_without_memory_import_is_untouched() {
        let wasm = wat::parse_str(r#"(module (memory (export "memory") 1))"#).unwrap();
        assert!(define_imported_memory(&wasm).unwrap().is_none());
    }

    #[test]
    fn import_becomes_exported_definition_with_same_limits() {
        let rewritten = rewrite(
            r#"(module
                (import "env" "log" (func $log (param i32 i64)))
                (import "env" "memory" (memory 2 5))
                (data (i32.const 8) "hi")
                (func (export "handle") (call $log (i32.const 8) (i64.const 2))))"#,
        );
        assert_eq!(rewritten.memory_export, "memory");
        let exports = exports_of(&rewritten.wasm);
        assert!(exports.contains(&("memory".into(), wasmparser::ExternalKind::Memory, 0)));
        let module = wasmparser::Parser::new(0)
            .parse_all(&rewritten.wasm)
            .filter_map(Result::ok)
            .find_map(|p| match p {
                Payload::MemorySection(r) => r.into_iter().next().and_then(Result::ok),
                _ => None,
            })
            .unwrap();
        assert_eq!((module.initial, module.maximum), (2, Some(5)));
    }

    #[test]
    fn existing_export_of_the_memory_keeps_its_name() {
        let rewritten =
            rewrite(r#"(module (import "env" "memory" (memory 1)) (export "mem" (memory 0)))"#);
        assert_eq!(rewritten.memory_export, "mem");
    }

    #[test]
    fn export_name_clash_uses_fallback() {
        let rewritten =
            rewrite(r#"(module (import "env" "memory" (memory 1)) (func (export "memory")))"#);
        assert_eq!(rewritten.memory_export, FALLBACK_MEMORY_EXPORT);
    }

    #[test]
    fn shared_memory_import_is_refused() {
        let wasm =
            wat::parse_str(r#"(module (import "env" "memory" (memory 1 1 shared)))"#).unwrap();
        assert!(define_imported_memory(&wasm).is_err());
    }
}
