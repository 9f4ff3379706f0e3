;; Opens 17 connections to the address in env key "backend" (the limit is
;; 16 per request). Body: one byte per attempt, 'o' for a handle, 'x' for a
;; refusal.
(module
  (import "env" "db_get" (func $db_get (param i32 i64 i32 i64) (result i64)))
  (import "env" "tcp_connect" (func $connect (param i32 i64) (result i32)))
  (import "env" "response_set_body" (func $body (param i32 i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "backend")
  (func (export "handle")
    (local $length i64)
    (local $attempt i32)
    ;; The address goes to offset 64.
    (local.set $length (call $db_get (i32.const 0) (i64.const 7) (i32.const 64) (i64.const 64)))
    (loop $again
      (i32.store8
        (i32.add (i32.const 256) (local.get $attempt))
        (select (i32.const 111) (i32.const 120)
          (i32.ge_s (call $connect (i32.const 64) (local.get $length)) (i32.const 0))))
      (local.set $attempt (i32.add (local.get $attempt) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $attempt) (i32.const 17))))
    (call $body (i32.const 256) (i64.const 17))))
