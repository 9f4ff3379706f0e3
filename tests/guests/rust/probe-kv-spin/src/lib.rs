//! `probe-kv-spin`: `probe-kv` (the shared `common.rs` and draft2's
//! `version.rs`) built against Spin's copy of `wasi:keyvalue@0.2.0-draft2`,
//! whose `batch.get-many` answers `list<tuple<string, option<list<u8>>>>`
//! where upstream's answers `list<option<tuple<...>>>`.

mod bindings {
    // Import-only bindings from the vendored, unchanged WIT in /wit (see
    // wit/README.md); the world itself is inline.
    wit_bindgen::generate!({
        inline: "
            package serverless-wasm:probe-kv-spin;

            world probe {
                include wasi:keyvalue/imports@0.2.0-draft2;
                import wasi:config/store@0.2.0-draft-2024-09-27;
            }
        ",
        path: [
            "../../../../wit/keyvalue-0.2.0-draft2-spin",
            "../../../../wit/config-0.2.0-draft-2024-09-27",
        ],
        // The interfaces come from other packages than the inline one.
        generate_all,
        world: "serverless-wasm:probe-kv-spin/probe",
    });
}

#[path = "../../probe-kv/src/common.rs"]
mod common;
#[path = "../../probe-kv/src/version.rs"]
mod version;

/// `batch.get-many` in Spin's shape, as `common` reads it: `none` for an
/// absent key (whose name Spin's answer still carries).
fn get_many(
    bucket: &bindings::wasi::keyvalue::store::Bucket,
    keys: &[String],
) -> Result<Vec<Option<(String, Vec<u8>)>>, bindings::wasi::keyvalue::store::Error> {
    let entries = bindings::wasi::keyvalue::batch::get_many(bucket, keys)?;
    Ok(entries
        .into_iter()
        .map(|(key, value)| value.map(|value| (key, value)))
        .collect())
}
