;; backend.wat: forwards the request body to a TCP backend, written by hand.
;;
;; The backend's address, "host:port", is the app's env value "/env/backend"
;; (config: env = { "/env/backend" = "127.0.0.1:8181" }); the address must
;; also be in the app's allowed_outbound_hosts. The guest
;;
;;   1. reads the address           none  -> 500 "no /env/backend configured\n"
;;   2. connects to it              fails -> 502 "cannot connect to backend <addr>\n"
;;   3. writes the request body, or "hello backend\n" when the body is empty
;;                                  fails -> 502 "cannot write to backend <addr>\n"
;;   4. reads until the backend closes the connection, keeping at most 1 MiB
;;                                  fails -> 502 "cannot read from backend <addr>\n"
;;   5. answers 200 with what it read as the body and "x-backend: <addr>".
;;
;; There is no call to close a socket or shut one half down: the host closes
;; a request's sockets when the request ends. So the backend must answer, and
;; close, without waiting for the guest's end of stream.
;;
;; examples/rust/backend is the same guest written with the Rust SDK.
(module
  ;; db_get(key_ptr, key_size, value_ptr, value_size) -> full length, or -1:
  ;; the app's env value for a key, with the getters' length convention (see
  ;; echo.wat): copies at most value_size bytes, returns the full length.
  (import "env" "db_get"
    (func $db_get
      (param $key_ptr i32) (param $key_size i64)
      (param $value_ptr i32) (param $value_size i64)
      (result i64)))
  (import "env" "request_get_body"
    (func $request_get_body (param $ptr i32) (param $size i64) (result i64)))

  ;; tcp_connect(addr_ptr, addr_size) -> handle: a handle >= 0, or < 0 when
  ;; the address is not allowed, the connection fails, or 16 sockets are
  ;; already open (the server's log says which).
  (import "env" "tcp_connect"
    (func $tcp_connect (param $addr_ptr i32) (param $addr_size i64) (result i32)))
  ;; tcp_write(fd, ptr, size) -> bytes written, maybe fewer than size (so
  ;; loop), or < 0 on failure.
  (import "env" "tcp_write"
    (func $tcp_write (param $fd i32) (param $ptr i32) (param $size i64) (result i64)))
  ;; tcp_read(fd, ptr, size) -> bytes read (at most size, maybe fewer), 0 at
  ;; end of stream, < 0 on failure. It waits until there is something.
  (import "env" "tcp_read"
    (func $tcp_read (param $fd i32) (param $ptr i32) (param $size i64) (result i64)))

  ;; response_set_status_line(status, reason_ptr, reason_size): the status
  ;; code and its reason phrase (empty for the standard one).
  (import "env" "response_set_status_line"
    (func $response_set_status_line
      (param $status i32) (param $reason_ptr i32) (param $reason_size i64)))
  (import "env" "response_set_header"
    (func $response_set_header
      (param $name_ptr i32) (param $name_size i64)
      (param $value_ptr i32) (param $value_size i64)))
  (import "env" "response_set_body"
    (func $response_set_body (param $ptr i32) (param $size i64)))

  ;; One page to start with, exported; $alloc grows it.
  (memory (export "memory") 1)

  ;; Constant strings, at fixed offsets below 1024.
  (data (i32.const 0)   "/env/backend")                 ;; 0,   12 bytes
  (data (i32.const 16)  "no /env/backend configured\n") ;; 16,  27 bytes
  (data (i32.const 48)  "Internal Server Error")        ;; 48,  21 bytes
  (data (i32.const 80)  "Bad Gateway")                  ;; 80,  11 bytes
  (data (i32.const 96)  "hello backend\n")              ;; 96,  14 bytes
  (data (i32.const 112) "x-backend")                    ;; 112,  9 bytes
  (data (i32.const 128) "cannot connect to backend ")   ;; 128, 26 bytes
  (data (i32.const 160) "cannot write to backend ")     ;; 160, 24 bytes
  (data (i32.const 192) "cannot read from backend ")    ;; 192, 25 bytes

  ;; The most of the reply that is kept: 1 MiB.
  (global $max_reply i64 (i64.const 1048576))

  ;; A bump allocator: memory from 1024 up, never freed (the instance lives
  ;; for one request only).
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

  ;; Answers 502 Bad Gateway with the body <prefix><addr>"\n", built in fresh
  ;; memory with memory.copy.
  (func $bad_gateway
    (param $prefix i32) (param $prefix_len i32)
    (param $addr i32) (param $addr_len i32)
    (local $body i32)
    (local $body_len i32)
    (local.set $body_len
      (i32.add (i32.add (local.get $prefix_len) (local.get $addr_len)) (i32.const 1)))
    (local.set $body (call $alloc (local.get $body_len)))
    ;; memory.copy(destination, source, length)
    (memory.copy (local.get $body) (local.get $prefix) (local.get $prefix_len))
    (memory.copy
      (i32.add (local.get $body) (local.get $prefix_len))
      (local.get $addr)
      (local.get $addr_len))
    (i32.store8
      (i32.sub (i32.add (local.get $body) (local.get $body_len)) (i32.const 1))
      (i32.const 10))  ;; "\n"
    (call $response_set_status_line (i32.const 502) (i32.const 80) (i64.const 11))
    (call $response_set_body
      (local.get $body) (i64.extend_i32_u (local.get $body_len))))

  (func (export "handle")
    (local $addr i32)      (local $addr_len i64)  ;; the backend's address
    (local $fd i32)                               ;; its socket
    (local $msg i32)       (local $msg_len i64)   ;; what is sent
    (local $sent i64)                             ;; how much of it so far
    (local $reply i32)     (local $got i64)       ;; what is read, how much
    (local $n i64)                                ;; one call's result

    ;; 1. The address: learn its length, then fetch it.
    (local.set $addr_len
      (call $db_get (i32.const 0) (i64.const 12) (i32.const 0) (i64.const 0)))
    (if (i64.lt_s (local.get $addr_len) (i64.const 0))
      (then
        (call $response_set_status_line
          (i32.const 500) (i32.const 48) (i64.const 21))  ;; Internal Server Error
        (call $response_set_body (i32.const 16) (i64.const 27))
        (return)))
    (local.set $addr (call $alloc (i32.wrap_i64 (local.get $addr_len))))
    (drop
      (call $db_get
        (i32.const 0) (i64.const 12) (local.get $addr) (local.get $addr_len)))

    ;; 2. Connect.
    (local.set $fd (call $tcp_connect (local.get $addr) (local.get $addr_len)))
    (if (i32.lt_s (local.get $fd) (i32.const 0))
      (then
        (call $bad_gateway
          (i32.const 128) (i32.const 26)  ;; "cannot connect to backend "
          (local.get $addr) (i32.wrap_i64 (local.get $addr_len)))
        (return)))

    ;; 3. The message: the request body, or the constant when it is empty.
    (local.set $msg_len (call $request_get_body (i32.const 0) (i64.const 0)))
    (if (i64.eqz (local.get $msg_len))
      (then
        (local.set $msg (i32.const 96))  ;; "hello backend\n"
        (local.set $msg_len (i64.const 14)))
      (else
        (local.set $msg (call $alloc (i32.wrap_i64 (local.get $msg_len))))
        (drop (call $request_get_body (local.get $msg) (local.get $msg_len)))))

    ;; Write it all: tcp_write may take only part, so loop until it is sent.
    (block $written
      (loop $write
        (br_if $written (i64.ge_u (local.get $sent) (local.get $msg_len)))
        (local.set $n
          (call $tcp_write
            (local.get $fd)
            (i32.add (local.get $msg) (i32.wrap_i64 (local.get $sent)))
            (i64.sub (local.get $msg_len) (local.get $sent))))
        ;; < 0 is an error; 0 would loop forever, so it is one too.
        (if (i64.le_s (local.get $n) (i64.const 0))
          (then
            (call $bad_gateway
              (i32.const 160) (i32.const 24)  ;; "cannot write to backend "
              (local.get $addr) (i32.wrap_i64 (local.get $addr_len)))
            (return)))
        (local.set $sent (i64.add (local.get $sent) (local.get $n)))
        (br $write)))

    ;; 4. Read until end of stream (0) or until 1 MiB is in.
    (local.set $reply (call $alloc (i32.wrap_i64 (global.get $max_reply))))
    (block $done
      (loop $read
        (br_if $done (i64.ge_u (local.get $got) (global.get $max_reply)))
        (local.set $n
          (call $tcp_read
            (local.get $fd)
            (i32.add (local.get $reply) (i32.wrap_i64 (local.get $got)))
            (i64.sub (global.get $max_reply) (local.get $got))))
        (if (i64.lt_s (local.get $n) (i64.const 0))
          (then
            (call $bad_gateway
              (i32.const 192) (i32.const 25)  ;; "cannot read from backend "
              (local.get $addr) (i32.wrap_i64 (local.get $addr_len)))
            (return)))
        (br_if $done (i64.eqz (local.get $n)))
        (local.set $got (i64.add (local.get $got) (local.get $n)))
        (br $read)))

    ;; 5. Answer; the status stays at its default, 200.
    (call $response_set_header
      (i32.const 112) (i64.const 9)  ;; "x-backend"
      (local.get $addr) (local.get $addr_len))
    (call $response_set_body (local.get $reply) (local.get $got)))
)
