//! The boundary with the host: the functions the module imports from `env`,
//! and thin safe wrappers over them. All of the SDK's `unsafe` code is here.
//!
//! Every wrapper passes a Rust slice as the ABI's `(ptr: i32, size: i64)`
//! pair, and every getter goes through [`read_value`], the one implementation
//! of the ABI's length convention.

/// Declares the imports once, in two forms: on wasm32 an `unsafe extern`
/// block imported from the wasm module `env`; on any other target functions
/// of the same signatures that panic, so that the crate (and a guest crate
/// using it) still builds, documents and type-checks on a normal machine.
macro_rules! imports {
    ($( $(#[$attr:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)?; )*) => {
        // `wasm_import_module` is what makes these imports of `env`: without
        // it rustc may bind a name such as `log` to the libm function
        // compiled into the module instead of importing it.
        #[cfg(target_arch = "wasm32")]
        #[link(wasm_import_module = "env")]
        unsafe extern "C" {
            $( $(#[$attr])* pub fn $name($($arg: $ty),*) $(-> $ret)?; )*
        }

        $(
            #[cfg(not(target_arch = "wasm32"))]
            $(#[$attr])*
            pub unsafe fn $name($(_: $ty),*) $(-> $ret)? {
                super::unavailable(stringify!($name))
            }
        )*
    };
}

/// The raw imports, exactly as the host provides them. Pointers are offsets
/// into the module's linear memory; sizes are byte counts. The host traps the
/// request when a `(ptr, size)` range lies outside the memory.
mod ffi {
    imports! {
        /// Writes one line to the host's log.
        fn log(ptr: i32, size: i64);
        /// Sets the status code and reason phrase (empty for the standard one).
        fn response_set_status_line(status: i32, reason_ptr: i32, reason_size: i64);
        /// Adds a response header.
        fn response_set_header(name_ptr: i32, name_size: i64, value_ptr: i32, value_size: i64);
        /// Replaces the response body.
        fn response_set_body(ptr: i32, size: i64);
        /// Opens a socket to `host:port`: a handle >= 0, or < 0 on failure.
        fn tcp_connect(addr_ptr: i32, addr_size: i64) -> i32;
        /// Bytes read, 0 at end of stream, < 0 on failure.
        fn tcp_read(fd: i32, ptr: i32, size: i64) -> i64;
        /// Bytes written (maybe fewer than `size`), < 0 on failure.
        fn tcp_write(fd: i32, ptr: i32, size: i64) -> i64;
        /// The app's `env` value for a key, else its store's (length
        /// convention; -1 absent, below -1 a store error).
        fn db_get(key_ptr: i32, key_size: i64, value_ptr: i32, value_size: i64) -> i64;
        /// Stores a value in the app's store: 0, or < 0 on error.
        fn db_set(key_ptr: i32, key_size: i64, value_ptr: i32, value_size: i64) -> i64;
        /// Deletes a key from the app's store: 1 deleted, 0 absent, < 0 error.
        fn db_delete(key_ptr: i32, key_size: i64) -> i64;
        /// The store's keys that begin with a prefix, each followed by `\n`
        /// (length convention; < 0 error).
        fn db_list(prefix_ptr: i32, prefix_size: i64, buf_ptr: i32, buf_size: i64) -> i64;
        /// The request method (length convention).
        fn request_get_method(ptr: i32, size: i64) -> i64;
        /// The request path, without the query string (length convention).
        fn request_get_path(ptr: i32, size: i64) -> i64;
        /// The query string without `?`, -1 when none (length convention).
        fn request_get_query(ptr: i32, size: i64) -> i64;
        /// A request header, case-insensitive name, -1 when absent (length convention).
        fn request_get_header(name_ptr: i32, name_size: i64, value_ptr: i32, value_size: i64) -> i64;
        /// The request body (length convention).
        fn request_get_body(ptr: i32, size: i64) -> i64;
    }
}

/// What every import does outside a wasm32 build.
#[cfg(not(target_arch = "wasm32"))]
#[cold]
fn unavailable(import: &str) -> ! {
    panic!(
        "serverless-wasm-sdk: `env.{import}` is only available inside serverless-wasm \
         (build the guest for wasm32-unknown-unknown and run it in the server)"
    )
}

/// A slice as the ABI's `(ptr, size)` pair. Lossless on wasm32, where both
/// addresses and lengths are 32-bit; elsewhere the imports never run.
fn raw(bytes: &[u8]) -> (i32, i64) {
    (bytes.as_ptr() as usize as i32, bytes.len() as i64)
}

/// Reads one value with the ABI's length convention: `get(ptr, size)` copies
/// at most `size` bytes to `ptr` and returns the value's FULL length, or a
/// negative number when there is no value.
///
/// The first call offers room for `hint` bytes; when the value is longer the
/// buffer grows to the returned length and the call is made again, so a value
/// of any length is read whole (in at most two calls, as values do not change
/// during a request; the loop keeps it right even if one did).
fn read_value(hint: usize, get: impl FnMut(i32, i64) -> i64) -> Option<Vec<u8>> {
    read_status(hint, get).ok()
}

/// [`read_value`], keeping the negative number the host returned instead of a value.
fn read_status(hint: usize, mut get: impl FnMut(i32, i64) -> i64) -> Result<Vec<u8>, i64> {
    let mut buffer = Vec::<u8>::with_capacity(hint);
    loop {
        let spare = buffer.spare_capacity_mut();
        let room = spare.len();
        let len = get(spare.as_mut_ptr() as usize as i32, room as i64);
        if len < 0 {
            return Err(len);
        }
        let len = usize::try_from(len).expect("value longer than the address space");
        if len <= room {
            // SAFETY: the host has copied the whole value, `len` bytes, to the
            // start of the spare capacity, the buffer being empty.
            unsafe { buffer.set_len(len) };
            return Ok(buffer);
        }
        buffer.reserve_exact(len);
    }
}

/// A typical first guess at a value's length: one call reads most values.
const HINT: usize = 256;

pub fn log(message: &[u8]) {
    let (ptr, size) = raw(message);
    // SAFETY: the host only reads the live slice `message`.
    unsafe { ffi::log(ptr, size) }
}

pub fn set_status_line(status: i32, reason: &[u8]) {
    let (ptr, size) = raw(reason);
    // SAFETY: the host only reads the live slice `reason`.
    unsafe { ffi::response_set_status_line(status, ptr, size) }
}

pub fn set_header(name: &[u8], value: &[u8]) {
    let ((name_ptr, name_size), (value_ptr, value_size)) = (raw(name), raw(value));
    // SAFETY: the host only reads the live slices `name` and `value`.
    unsafe { ffi::response_set_header(name_ptr, name_size, value_ptr, value_size) }
}

pub fn set_body(body: &[u8]) {
    let (ptr, size) = raw(body);
    // SAFETY: the host only reads the live slice `body`.
    unsafe { ffi::response_set_body(ptr, size) }
}

pub fn tcp_connect(addr: &[u8]) -> i32 {
    let (ptr, size) = raw(addr);
    // SAFETY: the host only reads the live slice `addr`.
    unsafe { ffi::tcp_connect(ptr, size) }
}

pub fn tcp_read(fd: i32, buffer: &mut [u8]) -> i64 {
    let (ptr, size) = raw(buffer);
    // SAFETY: the host writes at most `size` bytes to `ptr`, all inside the
    // exclusively borrowed `buffer`.
    unsafe { ffi::tcp_read(fd, ptr, size) }
}

pub fn tcp_write(fd: i32, bytes: &[u8]) -> i64 {
    let (ptr, size) = raw(bytes);
    // SAFETY: the host only reads the live slice `bytes`.
    unsafe { ffi::tcp_write(fd, ptr, size) }
}

// The getters. In each, the host writes at most `size` bytes at `ptr`, which
// `read_value` points at its buffer's spare capacity, and only reads the key.

pub fn db_get(key: &[u8]) -> Option<Vec<u8>> {
    let (key_ptr, key_size) = raw(key);
    // SAFETY: see above.
    read_value(HINT, |ptr, size| unsafe {
        ffi::db_get(key_ptr, key_size, ptr, size)
    })
}

/// `db_get`, keeping the status: `Err(-1)` absent, below -1 a store error.
pub fn db_get_status(key: &[u8]) -> Result<Vec<u8>, i64> {
    let (key_ptr, key_size) = raw(key);
    // SAFETY: see above.
    read_status(HINT, |ptr, size| unsafe {
        ffi::db_get(key_ptr, key_size, ptr, size)
    })
}

pub fn db_list(prefix: &[u8]) -> Result<Vec<u8>, i64> {
    let (prefix_ptr, prefix_size) = raw(prefix);
    // SAFETY: see above.
    read_status(HINT * 4, |ptr, size| unsafe {
        ffi::db_list(prefix_ptr, prefix_size, ptr, size)
    })
}

pub fn db_set(key: &[u8], value: &[u8]) -> i64 {
    let ((key_ptr, key_size), (value_ptr, value_size)) = (raw(key), raw(value));
    // SAFETY: the host only reads the live slices `key` and `value`.
    unsafe { ffi::db_set(key_ptr, key_size, value_ptr, value_size) }
}

pub fn db_delete(key: &[u8]) -> i64 {
    let (key_ptr, key_size) = raw(key);
    // SAFETY: the host only reads the live slice `key`.
    unsafe { ffi::db_delete(key_ptr, key_size) }
}

pub fn request_method() -> Option<Vec<u8>> {
    // SAFETY: see above.
    read_value(16, |ptr, size| unsafe {
        ffi::request_get_method(ptr, size)
    })
}

pub fn request_path() -> Option<Vec<u8>> {
    // SAFETY: see above.
    read_value(HINT, |ptr, size| unsafe {
        ffi::request_get_path(ptr, size)
    })
}

pub fn request_query() -> Option<Vec<u8>> {
    // SAFETY: see above.
    read_value(HINT, |ptr, size| unsafe {
        ffi::request_get_query(ptr, size)
    })
}

pub fn request_header(name: &[u8]) -> Option<Vec<u8>> {
    let (name_ptr, name_size) = raw(name);
    // SAFETY: see above.
    read_value(HINT, |ptr, size| unsafe {
        ffi::request_get_header(name_ptr, name_size, ptr, size)
    })
}

pub fn request_body() -> Option<Vec<u8>> {
    // A body is often large: ask for its length first (hint 0), then copy it once.
    // SAFETY: see above.
    read_value(0, |ptr, size| unsafe { ffi::request_get_body(ptr, size) })
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    #[test]
    #[should_panic(expected = "`env.request_get_method` is only available inside serverless-wasm")]
    fn host_functions_panic_outside_the_server() {
        crate::request::method();
    }
}
