;; Guests that misbehave, one per exported function (chosen with `function`).
;; Each must cost only its own request.
(module
  (import "env" "response_set_body" (func $set_body (param i32 i64)))
  (import "env" "db_get" (func $db_get (param i32 i64 i32 i64) (result i64)))
  (import "env" "log" (func $log (param i32 i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "key")

  ;; Hits `unreachable`.
  (func (export "trap") unreachable)

  ;; Never returns.
  (func (export "spin") (loop $forever (br $forever)))

  ;; Recurses until the stack is exhausted.
  (func $recurse (export "recurse") (call $recurse))

  ;; Divides by zero.
  (func (export "divide_by_zero") (drop (i32.div_u (i32.const 1) (i32.const 0))))

  ;; Reads past the end of its own memory.
  (func (export "load_out_of_bounds") (drop (i32.load (i32.const 70000))))

  ;; Hands the host a pointer past the end of memory.
  (func (export "pointer_out_of_bounds")
    (call $set_body (i32.const 65530) (i64.const 100)))

  ;; Hands the host an absurd length.
  (func (export "absurd_length")
    (call $set_body (i32.const 0) (i64.const 1099511627776)))

  ;; Hands the host a negative length.
  (func (export "negative_length")
    (call $log (i32.const 0) (i64.const -1)))

  ;; Asks the host to write a value past the end of memory.
  (func (export "write_out_of_bounds")
    (drop (call $db_get (i32.const 0) (i64.const 3) (i32.const -16) (i64.const 64))))

  ;; Grows memory one page at a time until refused, then answers with the
  ;; number of pages held as a 4-byte little-endian body.
  (func (export "grow")
    (block $refused
      (loop $more
        (br_if $refused (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
        (br $more)))
    (i32.store (i32.const 16) (memory.size))
    (call $set_body (i32.const 16) (i64.const 4)))
)
