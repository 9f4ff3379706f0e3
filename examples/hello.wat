;; hello.wat: the smallest useful serverless-wasm guest, written by hand.
;;
;; Every request gets:
;;
;;   200 OK
;;   content-type: text/plain; charset=utf-8
;;
;;   Hello from serverless-wasm!
;;
;; and the server's log gets the line "hello: sending a greeting".
;; examples/rust/hello is the same guest written with the Rust SDK.
;;
;; How a guest works (the classic ABI; sdk/README.md is the full reference):
;; the server instantiates the module afresh for every request and calls its
;; exported function `handle` (no parameters, no results) once. The guest
;; talks to the server only through functions it imports from the module
;; "env", passing data as (pointer, size) pairs: a pointer is an i32 offset
;; into the guest's linear memory, a size an i64 count of bytes. So the host
;; must be able to see that memory: the module exports it as "memory" (as
;; here) or imports it as "env.memory" (see echo.wat).
;;
;; Only the imports a module uses need to be declared, and the server refuses
;; a module that imports anything it does not provide.
(module
  ;; log(ptr, size): writes the bytes at ptr..ptr+size as one line of the
  ;; server's log.
  (import "env" "log"
    (func $log (param $ptr i32) (param $size i64)))

  ;; response_set_header(name_ptr, name_size, value_ptr, value_size): adds a
  ;; header to the response.
  (import "env" "response_set_header"
    (func $response_set_header
      (param $name_ptr i32) (param $name_size i64)
      (param $value_ptr i32) (param $value_size i64)))

  ;; response_set_body(ptr, size): sets (replaces) the response body. The
  ;; host copies the bytes at once.
  (import "env" "response_set_body"
    (func $response_set_body (param $ptr i32) (param $size i64)))

  ;; One page (64 KiB) of memory, exported so the host can read it.
  (memory (export "memory") 1)

  ;; The constant strings, placed at fixed offsets. WAT has no names for data
  ;; addresses, so each call below repeats the offset and the length in
  ;; bytes (a "\n" is one byte).
  (data (i32.const 0)  "hello: sending a greeting")      ;; 0,  25 bytes
  (data (i32.const 32) "content-type")                   ;; 32, 12 bytes
  (data (i32.const 48) "text/plain; charset=utf-8")      ;; 48, 25 bytes
  (data (i32.const 80) "Hello from serverless-wasm!\n")  ;; 80, 28 bytes

  ;; The entry point. The status is never set, so it stays at its default,
  ;; 200; the reason phrase is then the standard one, "OK".
  (func (export "handle")
    (call $log (i32.const 0) (i64.const 25))
    (call $response_set_header
      (i32.const 32) (i64.const 12)     ;; "content-type"
      (i32.const 48) (i64.const 25))    ;; "text/plain; charset=utf-8"
    (call $response_set_body (i32.const 80) (i64.const 28)))
)
