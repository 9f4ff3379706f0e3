//! `probe-kv-draft`: `probe-kv`'s HTTP API (the shared `common.rs`) against
//! `wasi:keyvalue@0.2.0-draft` (what `wasmtime serve -S keyvalue` offers)
//! and `wasi:config/store@0.2.0-rc.1` (wasmtime's `-S config`).

mod bindings {
    // Import-only bindings from the vendored, unchanged upstream WIT in
    // /wit (see wit/README.md); the world itself is inline.
    wit_bindgen::generate!({
        inline: "
            package serverless-wasm:probe-kv-draft;

            world probe {
                include wasi:keyvalue/imports@0.2.0-draft;
                import wasi:config/store@0.2.0-rc.1;
            }
        ",
        path: [
            "../../../../wit/keyvalue-0.2.0-draft",
            "../../../../wit/config-0.2.0-rc.1",
        ],
        // The interfaces come from other packages than the inline one.
        generate_all,
        world: "serverless-wasm:probe-kv-draft/probe",
    });
}

#[path = "../../probe-kv/src/common.rs"]
mod common;
mod version;

/// `batch.get-many` in upstream's shape: `none` for an absent key.
fn get_many(
    bucket: &bindings::wasi::keyvalue::store::Bucket,
    keys: &[String],
) -> Result<Vec<Option<(String, Vec<u8>)>>, bindings::wasi::keyvalue::store::Error> {
    bindings::wasi::keyvalue::batch::get_many(bucket, keys)
}
