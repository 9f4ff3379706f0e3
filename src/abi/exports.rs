//! A core module's exports as people read them: finding the entry point a
//! config names, and describing types in error messages.

use wasmtime::{ExternType, FuncType, Module, ModuleExport};

/// The export `name` of `module`, which must be a `() -> ()` function; the
/// error says what was found instead, listing the exports when it is missing.
pub fn entry_point(module: &Module, name: &str) -> Result<ModuleExport, String> {
    match module.get_export(name) {
        Some(ExternType::Func(ty)) if ty.params().len() == 0 && ty.results().len() == 0 => {}
        Some(ExternType::Func(ty)) => {
            return Err(format!(
                "export `{name}` has type {}, expected () -> ()",
                signature(&ty)
            ));
        }
        Some(other) => {
            return Err(format!(
                "export `{name}` is a {}, not a function",
                describe_extern(&other)
            ));
        }
        None => {
            return Err(format!(
                "the module has no export `{name}`; it exports: {}",
                list_exports(module)
            ));
        }
    }
    module
        .get_export_index(name)
        .ok_or_else(|| format!("export `{name}` cannot be resolved"))
}

pub fn describe_extern(ty: &ExternType) -> String {
    match ty {
        ExternType::Func(f) => format!("function {}", signature(f)),
        ExternType::Memory(_) => "memory".into(),
        ExternType::Table(_) => "table".into(),
        ExternType::Global(_) => "global".into(),
        ExternType::Tag(_) => "tag".into(),
    }
}

/// A function type as people write it: `(i32, i64) -> (i64)`.
pub fn signature(ty: &FuncType) -> String {
    let params: Vec<_> = ty.params().map(|p| p.to_string()).collect();
    let results: Vec<_> = ty.results().map(|r| r.to_string()).collect();
    format!("({}) -> ({})", params.join(", "), results.join(", "))
}

fn list_exports(module: &Module) -> String {
    let exports: Vec<_> = module
        .exports()
        .map(|e| format!("`{}` ({})", e.name(), describe_extern(&e.ty())))
        .collect();
    if exports.is_empty() {
        "nothing".into()
    } else {
        exports.join(", ")
    }
}
