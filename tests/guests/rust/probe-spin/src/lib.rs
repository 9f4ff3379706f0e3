//! `probe-spin`: a wasi:http component that drives Spin's
//! `fermyon:spin/key-value@2.0.0` and `fermyon:spin/variables@2.0.0` from
//! HTTP requests, the way a Spin 2/3 SDK component calls them; see
//! `common.rs` for the API. `probe-spin-unprovided` is the same program with
//! interfaces the host does not provide imported as well.

mod bindings {
    // Import-only bindings from the vendored, unchanged Spin WIT in /wit
    // (see wit/README.md); the world itself is inline.
    wit_bindgen::generate!({
        inline: "
            package serverless-wasm:probe-spin;

            world probe {
                import fermyon:spin/key-value@2.0.0;
                import fermyon:spin/variables@2.0.0;
            }
        ",
        path: ["../../../../wit/spin-2.0.0"],
        // The interfaces come from another package than the inline one.
        generate_all,
        world: "serverless-wasm:probe-spin/probe",
    });
}

mod common;

/// No routes beyond `common`'s.
fn extra_route(_segments: &[&str]) -> Option<common::Answer> {
    None
}
