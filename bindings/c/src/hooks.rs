//! The two things a firmware must give the library: memory and a way to stop.
//!
//! The firmware defines, in C:
//! - `void *paywire_alloc(size_t size, size_t align)`: memory for `size` bytes at `align`, or NULL;
//! - `void paywire_dealloc(void *ptr, size_t size, size_t align)`: gives back what `paywire_alloc` returned;
//! - `void paywire_panic(const char *message, size_t len)`: never returns (reset, halt, or log and halt).
//!
//! A heap of 32 KiB is enough for a payment (figures in `docs/benchmarks.md`).

use core::alloc::{GlobalAlloc, Layout};
use core::ffi::{c_char, c_void};
use core::fmt::Write;

unsafe extern "C" {
    /// The firmware's allocator: memory for `size` bytes aligned to `align`, or NULL.
    fn paywire_alloc(size: usize, align: usize) -> *mut c_void;
    /// Gives back memory that `paywire_alloc` returned, with the same size and alignment.
    fn paywire_dealloc(ptr: *mut c_void, size: usize, align: usize);
    /// Called on a panic (a bug in paywire: no input should cause one) with a message; must not return.
    fn paywire_panic(message: *const c_char, len: usize) -> !;
}

/// The allocator that forwards to the firmware's hooks.
struct Hooks;

// SAFETY: the hooks' contract (above) is GlobalAlloc's: memory of the layout asked for, or NULL.
unsafe impl GlobalAlloc for Hooks {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { paywire_alloc(layout.size(), layout.align()).cast() }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { paywire_dealloc(ptr.cast(), layout.size(), layout.align()) }
    }
}

#[global_allocator]
static ALLOCATOR: Hooks = Hooks;

/// A message built without allocating (the heap may be what failed).
struct Fixed {
    buf: [u8; 160],
    len: usize,
}

impl Write for Fixed {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let mut message = Fixed { buf: [0; 160], len: 0 };
    let _ = write!(message, "paywire: {}", info.message());
    unsafe { paywire_panic(message.buf.as_ptr().cast(), message.len) }
}
