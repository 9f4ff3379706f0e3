;; Counts calls in a global and in memory: with a fresh instance per request,
;; every response must say 1.
(module
  (import "env" "response_set_body" (func $body (param i32 i64)))
  (memory (export "memory") 1)
  (global $calls (mut i32) (i32.const 0))
  (func (export "handle")
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
    (i32.store8 (i32.const 8) (i32.add (i32.const 48) (global.get $calls)))
    (i32.store8 (i32.const 9) (i32.add (i32.const 48) (i32.load (i32.const 0))))
    (call $body (i32.const 8) (i64.const 2))))
