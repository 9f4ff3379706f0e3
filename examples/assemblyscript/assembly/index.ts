// echo, in AssemblyScript: sends the request back, for serverless-wasm's
// classic ABI (see sdk/README.md, "The classic ABI"). It behaves exactly like
// examples/echo.wat: status 200, the request's body byte for byte, and
//
//   x-echo-method  the request method
//   x-echo-path    the path, without the query string
//   x-echo-query   the query string without "?", only when it is not empty
//   content-type   the request's own, else application/octet-stream
//
// Build: npm ci && npm run build (see build.sh), giving build/echo.wasm.

// ---------------------------------------------------------------------------
// The host functions, imported from "env". Pointers are i32 and sizes i64.
// Only the functions a module declares (and uses) are imported.

@external("env", "log")
declare function log(ptr: i32, size: i64): void;

@external("env", "response_set_header") // adds a header
declare function response_set_header(
  name_ptr: i32, name_size: i64, value_ptr: i32, value_size: i64,
): void;

@external("env", "response_set_body") // replaces the body
declare function response_set_body(ptr: i32, size: i64): void;

// The getters copy at most `size` bytes to `ptr` and return the value's FULL
// length, or -1 when there is no value.
@external("env", "request_get_method")
declare function request_get_method(ptr: i32, size: i64): i64;

@external("env", "request_get_path")
declare function request_get_path(ptr: i32, size: i64): i64;

@external("env", "request_get_query") // -1 when the URI has no "?"
declare function request_get_query(ptr: i32, size: i64): i64;

@external("env", "request_get_header") // the name is matched case-insensitively
declare function request_get_header(
  name_ptr: i32, name_size: i64, value_ptr: i32, value_size: i64,
): i64;

@external("env", "request_get_body")
declare function request_get_body(ptr: i32, size: i64): i64;

// ---------------------------------------------------------------------------
// Helpers. The host deals in UTF-8 bytes; AssemblyScript strings are UTF-16,
// so strings cross as ArrayBuffers made by String.UTF8.encode (and would come
// back with String.UTF8.decode). The echo passes values through as bytes.

/** The address of a buffer's first byte in linear memory. */
function ptr(buffer: ArrayBuffer): i32 {
  return <i32>changetype<usize>(buffer);
}

/** The UTF-8 bytes of a string (without a terminating NUL). */
function utf8(text: string): ArrayBuffer {
  return String.UTF8.encode(text);
}

/**
 * Reads a value of unknown length: asks for its length (size 0), allocates
 * that many bytes and asks again. Returns null when the value is absent.
 */
function read(getter: (ptr: i32, size: i64) => i64): ArrayBuffer | null {
  const length = getter(0, 0);
  if (length < 0) return null;
  const buffer = new ArrayBuffer(<i32>length);
  getter(ptr(buffer), length);
  return buffer;
}

/** The value of the request header `name`, or null when it was not sent. */
function requestHeader(name: string): ArrayBuffer | null {
  const key = utf8(name);
  const length = request_get_header(ptr(key), key.byteLength, 0, 0);
  if (length < 0) return null;
  const value = new ArrayBuffer(<i32>length);
  request_get_header(ptr(key), key.byteLength, ptr(value), length);
  return value;
}

/** Adds the response header `name: value`. */
function setHeader(name: string, value: ArrayBuffer): void {
  const key = utf8(name);
  response_set_header(ptr(key), key.byteLength, ptr(value), value.byteLength);
}

// ---------------------------------------------------------------------------
// The entry point: the server calls it once per request, in a fresh instance.

export function handle(): void {
  // Method and path are never absent, hence the `!`.
  setHeader("x-echo-method", read(request_get_method)!);
  setHeader("x-echo-path", read(request_get_path)!);

  const query = read(request_get_query);
  if (query !== null && query.byteLength > 0) {
    setHeader("x-echo-query", query);
  }

  const contentType = requestHeader("content-type");
  setHeader("content-type", contentType !== null ? contentType : utf8("application/octet-stream"));

  // A request without a body has an empty one (length 0, never -1).
  const body = read(request_get_body)!;
  response_set_body(ptr(body), body.byteLength);
}

// ---------------------------------------------------------------------------
// AssemblyScript calls `abort` on a failed assertion or a runtime error (an
// index out of range, a null where none may be). By default it would import
// `env.abort`, which serverless-wasm does not provide; `--use
// abort=assembly/index/abort` routes it here instead: log the message and
// trap, which makes the server answer 500.

function abort(
  message: string | null,
  fileName: string | null,
  line: u32,
  column: u32,
): void {
  const text = "abort: " + (message !== null ? message : "(no message)") +
    " at " + (fileName !== null ? fileName : "?") +
    ":" + line.toString() + ":" + column.toString();
  const bytes = utf8(text);
  log(ptr(bytes), bytes.byteLength);
  unreachable();
}
