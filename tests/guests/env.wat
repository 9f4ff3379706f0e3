;; Reads the app's env with `db_get` the intended way: ask for the length
;; with size 0, then read the whole value; also a truncated read and a
;; missing key. Body: "<first 3 bytes>|<whole value>|<missing result>".
(module
  (import "env" "db_get" (func $db_get (param i32 i64 i32 i64) (result i64)))
  (import "env" "response_set_body" (func $body (param i32 i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "greeting")
  (data (i32.const 16) "missing")
  (func (export "handle")
    (local $length i64)
    ;; Length only: nothing is copied.
    (local.set $length (call $db_get (i32.const 0) (i64.const 8) (i32.const 0) (i64.const 0)))
    ;; Truncated: copies 3 bytes, still returns the full length.
    (drop (call $db_get (i32.const 0) (i64.const 8) (i32.const 1000) (i64.const 3)))
    (i32.store8 (i32.const 1003) (i32.const 124)) ;; '|'
    ;; Whole value.
    (drop (call $db_get (i32.const 0) (i64.const 8) (i32.const 1004) (local.get $length)))
    (i32.store8 (i32.add (i32.const 1004) (i32.wrap_i64 (local.get $length))) (i32.const 124))
    ;; Absent key: -1, written as '-' (45) when so.
    (i32.store8
      (i32.add (i32.const 1005) (i32.wrap_i64 (local.get $length)))
      (select (i32.const 45) (i32.const 63)
        (i64.eq (call $db_get (i32.const 16) (i64.const 7) (i32.const 0) (i64.const 0)) (i64.const -1))))
    (call $body (i32.const 1000) (i64.add (local.get $length) (i64.const 6)))))
