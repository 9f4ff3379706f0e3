//! `probe-spin-unprovided`: `probe-spin` (its `common.rs`) importing, beside
//! Spin's key-value and variables, two Spin interfaces the host does not
//! provide: `fermyon:spin/sqlite@2.0.0` and `fermyon:spin/redis@2.0.0`. The
//! component must still load; `GET /sqlite` and `GET /redis` call them,
//! which must fail the request while the other routes keep working.

mod bindings {
    wit_bindgen::generate!({
        inline: "
            package serverless-wasm:probe-spin-unprovided;

            world probe {
                import fermyon:spin/key-value@2.0.0;
                import fermyon:spin/variables@2.0.0;
                import fermyon:spin/sqlite@2.0.0;
                import fermyon:spin/redis@2.0.0;
            }
        ",
        path: ["../../../../wit/spin-2.0.0"],
        generate_all,
        world: "serverless-wasm:probe-spin-unprovided/probe",
    });
}

#[path = "../../probe-spin/src/common.rs"]
mod common;

use bindings::fermyon::spin::{redis, sqlite};

/// `GET /sqlite` and `GET /redis`: each calls its interface once. The host
/// traps, so neither answer is ever sent.
fn extra_route(segments: &[&str]) -> Option<common::Answer> {
    match segments {
        ["sqlite"] => Some(match sqlite::Connection::open("default") {
            Ok(_) => Ok(common::Reply::ok("sqlite opened")),
            Err(error) => Ok(common::Reply::new(500, format!("sqlite: {error:?}"))),
        }),
        ["redis"] => Some(match redis::Connection::open("redis://127.0.0.1:1") {
            Ok(_) => Ok(common::Reply::ok("redis opened")),
            Err(error) => Ok(common::Reply::new(500, format!("redis: {error:?}"))),
        }),
        _ => None,
    }
}
