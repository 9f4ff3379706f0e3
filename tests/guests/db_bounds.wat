;; Misuses the key-value functions by request path, to show that a call
;; with a range outside memory traps before the store is touched:
;; `/value-oob` and `/key-oob` call db_set with the value or key past the end
;; of memory, `/get-oob` calls db_get with its buffer past the end,
;; `/negative` passes a negative size; any other path answers whether `key`
;; is stored ("present" or "absent").
(module
  (import "env" "db_get" (func $db_get (param i32 i64 i32 i64) (result i64)))
  (import "env" "db_set" (func $db_set (param i32 i64 i32 i64) (result i64)))
  (import "env" "request_get_path" (func $path (param i32 i64) (result i64)))
  (import "env" "response_set_body" (func $body (param i32 i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "key")
  (data (i32.const 200) "absent")
  (data (i32.const 210) "present")
  (func $is (param $letter i32) (result i32)
    (i32.eq (i32.load8_u (i32.const 101)) (local.get $letter)))
  (func (export "handle")
    (drop (call $path (i32.const 100) (i64.const 16)))
    (if (call $is (i32.const 118)) ;; v
      (then (drop (call $db_set (i32.const 0) (i64.const 3) (i32.const 65530) (i64.const 100)))))
    (if (call $is (i32.const 107)) ;; k
      (then (drop (call $db_set (i32.const 70000) (i64.const 3) (i32.const 0) (i64.const 3)))))
    (if (call $is (i32.const 103)) ;; g
      (then (drop (call $db_get (i32.const 0) (i64.const 3) (i32.const 65535) (i64.const 10)))))
    (if (call $is (i32.const 110)) ;; n
      (then (drop (call $db_set (i32.const 0) (i64.const -1) (i32.const 0) (i64.const 3)))))
    (if (i64.eq (call $db_get (i32.const 0) (i64.const 3) (i32.const 0) (i64.const 0)) (i64.const -1))
      (then (call $body (i32.const 200) (i64.const 6)))
      (else (call $body (i32.const 210) (i64.const 7))))))
