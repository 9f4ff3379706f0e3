;; A component exporting the pre-release `wasi:http/handler@0.3.0-rc-2026-03-15`
;; that Rust spin-sdk 6 and Spin's Python SDK 4 build: refused at load with the
;; versions the host does serve.
(component
  (core module $m (func (export "handle")))
  (core instance $i (instantiate $m))
  (func $handle (canon lift (core func $i "handle")))
  (instance $handler (export "handle" (func $handle)))
  (export "wasi:http/handler@0.3.0-rc-2026-03-15" (instance $handler))
)
