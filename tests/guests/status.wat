;; Sets a status line with its own reason phrase, headers (one repeated, one
;; the server must drop), and a body.
(module
  (import "env" "response_set_status_line" (func $status (param i32 i32 i64)))
  (import "env" "response_set_header" (func $header (param i32 i64 i32 i64)))
  (import "env" "response_set_body" (func $body (param i32 i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "Made It")
  (data (i32.const 16) "x-multi")
  (data (i32.const 32) "one")
  (data (i32.const 48) "two")
  (data (i32.const 64) "content-length")
  (data (i32.const 80) "999")
  (data (i32.const 96) "created\n")
  (data (i32.const 112) "bad header")
  (func (export "handle")
    (call $status (i32.const 201) (i32.const 0) (i64.const 7))
    (call $header (i32.const 16) (i64.const 7) (i32.const 32) (i64.const 3))
    (call $header (i32.const 16) (i64.const 7) (i32.const 48) (i64.const 3))
    (call $header (i32.const 64) (i64.const 14) (i32.const 80) (i64.const 3))
    (call $body (i32.const 96) (i64.const 8)))
  ;; A header name with a space is invalid: the request must fail with 500.
  (func (export "bad_header")
    (call $header (i32.const 112) (i64.const 10) (i32.const 32) (i64.const 3)))
  ;; 1000 is not a status code.
  (func (export "bad_status")
    (call $status (i32.const 1000) (i32.const 0) (i64.const 0)))
)
