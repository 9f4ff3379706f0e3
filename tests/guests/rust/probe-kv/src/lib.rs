//! `probe-kv`: a wasi:http component that drives `wasi:keyvalue@0.2.0-draft2`
//! (store, atomics, batch) and `wasi:config/store@0.2.0-draft-2024-09-27`
//! from HTTP requests; see `common.rs` for the API. `probe-kv-draft` is the
//! same program against wasi:keyvalue@0.2.0-draft and wasi:config@0.2.0-rc.1.

mod bindings {
    // Import-only bindings from the vendored, unchanged upstream WIT in
    // /wit (see wit/README.md); the world itself is inline, so no WIT file
    // is added to those folders.
    wit_bindgen::generate!({
        inline: "
            package serverless-wasm:probe-kv;

            world probe {
                include wasi:keyvalue/imports@0.2.0-draft2;
                import wasi:config/store@0.2.0-draft-2024-09-27;
            }
        ",
        path: [
            "../../../../wit/keyvalue-0.2.0-draft2",
            "../../../../wit/config-0.2.0-draft-2024-09-27",
        ],
        // The interfaces come from other packages than the inline one.
        generate_all,
        world: "serverless-wasm:probe-kv/probe",
    });
}

mod common;
mod version;

/// `batch.get-many` in upstream's shape: `none` for an absent key.
fn get_many(
    bucket: &bindings::wasi::keyvalue::store::Bucket,
    keys: &[String],
) -> Result<Vec<Option<(String, Vec<u8>)>>, bindings::wasi::keyvalue::store::Error> {
    bindings::wasi::keyvalue::batch::get_many(bucket, keys)
}
