;; echo.wat: sends the request back, written by hand.
;;
;; The response is 200 with the request's body, byte for byte, and these
;; headers, in this order:
;;
;;   x-echo-method  the request method
;;   x-echo-path    the path, without the query string
;;   x-echo-query   the query string without "?", only when the URI has a "?"
;;                  (empty when "?" is its last character)
;;   content-type   the request's own content-type, else
;;                  application/octet-stream
;;
;; examples/rust/echo is the same guest written with the Rust SDK.
;;
;; What this example shows:
;;
;; * Reading values of unknown length. Every getter of the ABI follows one
;;   convention: getter(..., ptr, size) copies AT MOST size bytes of the value
;;   to ptr and returns the value's FULL length, or -1 when there is no value
;;   (a header that was not sent, a URI without "?"). So the guest first calls
;;   it with size 0 to learn the length, allocates that many bytes, and calls
;;   it again to fetch the value. (Or it calls once with a buffer it hopes is
;;   big enough, and calls again if the returned length says it was not.)
;;
;; * Importing the memory. Unlike hello.wat and backend.wat, this module does
;;   not export a memory of its own: it imports it as "env.memory", as the
;;   original project's samples did (and as Rust guests linked with
;;   --import-memory do). Either way, each request gets a fresh, zeroed
;;   memory, initialised with the module's data segments.
(module
  ;; The memory, imported; at least one page (64 KiB). It grows as needed.
  (import "env" "memory" (memory 1))

  ;; The getters: (ptr, size) -> full length, or -1 when absent.
  (import "env" "request_get_method"
    (func $request_get_method (param $ptr i32) (param $size i64) (result i64)))
  (import "env" "request_get_path"
    (func $request_get_path (param $ptr i32) (param $size i64) (result i64)))
  (import "env" "request_get_query"
    (func $request_get_query (param $ptr i32) (param $size i64) (result i64)))
  ;; The header name is matched case-insensitively; several headers of the
  ;; same name come joined by ", ".
  (import "env" "request_get_header"
    (func $request_get_header
      (param $name_ptr i32) (param $name_size i64)
      (param $value_ptr i32) (param $value_size i64)
      (result i64)))
  (import "env" "request_get_body"
    (func $request_get_body (param $ptr i32) (param $size i64) (result i64)))

  ;; Building the response.
  (import "env" "response_set_header"
    (func $response_set_header
      (param $name_ptr i32) (param $name_size i64)
      (param $value_ptr i32) (param $value_size i64)))
  (import "env" "response_set_body"
    (func $response_set_body (param $ptr i32) (param $size i64)))

  ;; Constant strings, at fixed offsets below 1024.
  (data (i32.const 0)  "x-echo-method")             ;; 0,  13 bytes
  (data (i32.const 16) "x-echo-path")               ;; 16, 11 bytes
  (data (i32.const 32) "x-echo-query")              ;; 32, 12 bytes
  (data (i32.const 48) "content-type")              ;; 48, 12 bytes
  (data (i32.const 64) "application/octet-stream")  ;; 64, 24 bytes

  ;; A bump allocator for the values read from the host: memory from 1024
  ;; up. Nothing is ever freed, as the instance lives for one request only.
  (global $heap (mut i32) (i32.const 1024))

  ;; Returns the address of $size fresh bytes, growing the memory when they
  ;; do not fit. Traps when the memory cannot grow (the app's memory limit).
  (func $alloc (param $size i32) (result i32)
    (local $ptr i32)
    (local $end i32)
    (local.set $ptr (global.get $heap))
    (local.set $end (i32.add (local.get $ptr) (local.get $size)))
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then
        ;; grow by (pages needed to hold $end bytes) - (pages there are)
        (if (i32.eq
              (memory.grow
                (i32.sub
                  (i32.div_u (i32.add (local.get $end) (i32.const 65535))
                             (i32.const 65536))
                  (memory.size)))
              (i32.const -1))
          (then unreachable))))
    (global.set $heap (local.get $end))
    (local.get $ptr))

  (func (export "handle")
    (local $len i64)  ;; a value's length, as the getters return it
    (local $ptr i32)  ;; where the value is

    ;; x-echo-method: learn the length, allocate, fetch, send.
    (local.set $len (call $request_get_method (i32.const 0) (i64.const 0)))
    (local.set $ptr (call $alloc (i32.wrap_i64 (local.get $len))))
    (drop (call $request_get_method (local.get $ptr) (local.get $len)))
    (call $response_set_header
      (i32.const 0) (i64.const 13)             ;; "x-echo-method"
      (local.get $ptr) (local.get $len))

    ;; x-echo-path: the same steps.
    (local.set $len (call $request_get_path (i32.const 0) (i64.const 0)))
    (local.set $ptr (call $alloc (i32.wrap_i64 (local.get $len))))
    (drop (call $request_get_path (local.get $ptr) (local.get $len)))
    (call $response_set_header
      (i32.const 16) (i64.const 11)            ;; "x-echo-path"
      (local.get $ptr) (local.get $len))

    ;; x-echo-query: only when there is a query (length >= 0, where -1
    ;; means "no ?" and 0 means an empty query).
    (local.set $len (call $request_get_query (i32.const 0) (i64.const 0)))
    (if (i64.ge_s (local.get $len) (i64.const 0))
      (then
        (local.set $ptr (call $alloc (i32.wrap_i64 (local.get $len))))
        (drop (call $request_get_query (local.get $ptr) (local.get $len)))
        (call $response_set_header
          (i32.const 32) (i64.const 12)        ;; "x-echo-query"
          (local.get $ptr) (local.get $len))))

    ;; content-type: the request's, when it has one; "content-type" is both
    ;; the name looked up and the name sent.
    (local.set $len
      (call $request_get_header
        (i32.const 48) (i64.const 12)          ;; "content-type"
        (i32.const 0) (i64.const 0)))
    (if (i64.lt_s (local.get $len) (i64.const 0))
      (then
        (call $response_set_header
          (i32.const 48) (i64.const 12)        ;; "content-type"
          (i32.const 64) (i64.const 24)))      ;; "application/octet-stream"
      (else
        (local.set $ptr (call $alloc (i32.wrap_i64 (local.get $len))))
        (drop
          (call $request_get_header
            (i32.const 48) (i64.const 12)
            (local.get $ptr) (local.get $len)))
        (call $response_set_header
          (i32.const 48) (i64.const 12)
          (local.get $ptr) (local.get $len))))

    ;; The body: the same steps (a missing body is an empty one, length 0).
    (local.set $len (call $request_get_body (i32.const 0) (i64.const 0)))
    (local.set $ptr (call $alloc (i32.wrap_i64 (local.get $len))))
    (drop (call $request_get_body (local.get $ptr) (local.get $len)))
    (call $response_set_body (local.get $ptr) (local.get $len)))
)
