//! paywire-core on a Cortex-M4F, without std: the device pays an x402 bill under a spend policy, then checks
//! the payment offline as a server would.
//!
//! Input comes from a host file named on the semihosting command line (`key=value` lines: `bill` (a v2
//! `PAYMENT-REQUIRED` value) or `body` (a v1 402 body), `key`, `policy`, `now`, `nonce`), so a test can hand the device a bill from a live server and a deterministic
//! clock and nonce. Output, on semihosting stdout:
//!
//! ```text
//! header=PAYMENT-SIGNATURE
//! value=<the header value>
//! verified=<payer address>
//! heap_peak_bytes=<most heap in use at once>
//! stack_peak_bytes=<deepest stack reached>
//! ```
//!
//! Run: `cargo run --release --target thumbv7em-none-eabihf` in `devices/` (see `devices/README.md`).

#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicUsize, Ordering};

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln, nr, syscall, syscall1};
use embedded_alloc::LlffHeap;
use paywire_core::client::{Payer, Policy};
use paywire_core::server::{check_payment, read_payment};
use paywire_core::{B256, Error, ErrorCode, FixedClock, FixedRandomness, LocalSigner, PaymentRequired, Result};

/// Heap for the core's allocations. The rest of the 64 KiB of RAM holds static data and the stack.
const HEAP_BYTES: usize = 32 * 1024;

/// The heap, counting the most bytes in use at once.
struct CountingHeap {
    heap: LlffHeap,
    used: AtomicUsize,
    peak: AtomicUsize,
}

// SAFETY: every call is forwarded to the heap unchanged; the counters only observe sizes.
unsafe impl GlobalAlloc for CountingHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { self.heap.alloc(layout) };
        if !p.is_null() {
            let used = self.used.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            self.peak.fetch_max(used, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.used.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { self.heap.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static HEAP: CountingHeap =
    CountingHeap { heap: LlffHeap::empty(), used: AtomicUsize::new(0), peak: AtomicUsize::new(0) };

/// The byte the unused stack is painted with, to find the deepest point reached afterwards.
const PAINT: u32 = 0xA5A5_A5A5;

unsafe extern "C" {
    /// End of `.bss` (cortex-m-rt's linker script): the stack may grow down to here.
    static mut __ebss: u32;
    /// Top of the stack (cortex-m-rt's linker script).
    static _stack_start: u32;
}

#[entry]
fn main() -> ! {
    let low = &raw mut __ebss as usize;
    let top = &raw const _stack_start as usize;
    paint_stack(low);
    {
        use core::mem::MaybeUninit;
        static mut HEAP_MEM: [MaybeUninit<u8>; HEAP_BYTES] = [MaybeUninit::uninit(); HEAP_BYTES];
        // SAFETY: called once, before any allocation; the array is used by nothing else.
        unsafe { HEAP.heap.init(&raw mut HEAP_MEM as usize, HEAP_BYTES) }
    }
    let code = match run() {
        Ok(()) => {
            hprintln!("heap_peak_bytes={}", HEAP.peak.load(Ordering::Relaxed));
            hprintln!("stack_peak_bytes={}", top - painted_until(low));
            debug::EXIT_SUCCESS
        }
        Err(e) => {
            hprintln!("error={} {}", e.code().as_str(), e.message());
            debug::EXIT_FAILURE
        }
    };
    debug::exit(code);
    loop {
        cortex_m::asm::bkpt();
    }
}

fn run() -> Result<()> {
    let input = read_input()?;
    let field = |name: &str| -> Result<&str> {
        input
            .lines()
            .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
            .ok_or_else(|| Error::new(ErrorCode::InvalidPayload, alloc::format!("the input has no `{name}=` line")))
    };
    // A v2 bill comes as its PAYMENT-REQUIRED header value, a v1 bill as its JSON body.
    let bill = match field("bill") {
        Ok(header) => PaymentRequired::from_header(header.trim())?,
        Err(_) => PaymentRequired::from_response(&[] as &[(&str, &str)], field("body")?.trim().as_bytes())?,
    };
    let signer = LocalSigner::from_hex(field("key")?)?;
    let policy = Policy::from_json(field("policy")?)?;
    let now: u64 = field("now")?
        .trim()
        .parse()
        .map_err(|_| Error::new(ErrorCode::InvalidPayload, "`now` is not a Unix time in seconds"))?;
    let nonce: B256 = field("nonce")?
        .trim()
        .parse()
        .map_err(|_| Error::new(ErrorCode::InvalidPayload, "`nonce` is not 32 bytes of 0x-prefixed hex"))?;

    // The device has no clock or random source of its own here: both are handed in, as the core requires.
    let payer =
        Payer::new(Arc::new(signer), policy, Arc::new(FixedClock(now)), Arc::new(FixedRandomness::new(nonce.to_vec())));
    let payment = payer.pay(&bill, None)?;
    hprintln!("header={}", payment.name);
    hprintln!("value={}", payment.value);

    // The same device as a server: read the payment back from request headers and check it offline.
    let headers = [(payment.name, payment.value.as_str())];
    let incoming = read_payment(&headers)?
        .ok_or_else(|| Error::new(ErrorCode::InvalidPayload, "the payment header was not found"))?;
    let accepted = check_payment(&bill, &incoming, now)?;
    hprintln!("verified={}", accepted.verified.payer);
    Ok(())
}

/// Reads the whole file named on the semihosting command line.
fn read_input() -> Result<String> {
    let fail = |what: &str| Error::new(ErrorCode::InvalidPayload, alloc::format!("semihosting: {what}"));
    let mut cmdline = [0u8; 256];
    let mut block = [cmdline.as_mut_ptr() as usize, cmdline.len()];
    // SAFETY: SYS_GET_CMDLINE writes at most `block[1]` bytes into the buffer and the length into `block[1]`.
    if unsafe { syscall1!(GET_CMDLINE, block.as_mut_ptr()) } != 0 {
        return Err(fail("no command line; pass the input file with -semihosting-config arg=FILE"));
    }
    let path = core::str::from_utf8(&cmdline[..block[1]]).map_err(|_| fail("the command line is not UTF-8"))?;
    let path = path.split_whitespace().last().ok_or_else(|| fail("the command line names no input file"))?;
    let mut c_path: Vec<u8> = path.as_bytes().to_vec();
    c_path.push(0);
    // SAFETY: a NUL-terminated path with its length; mode 0 is "r".
    let fd = unsafe { syscall!(OPEN, c_path.as_ptr(), nr::open::R, path.len()) } as isize;
    if fd < 0 {
        return Err(fail("cannot open the input file"));
    }
    // SAFETY: FLEN takes the handle OPEN returned.
    let len = unsafe { syscall!(FLEN, fd) } as isize;
    if !(0..=16 * 1024).contains(&len) {
        return Err(fail("the input file is missing or larger than 16 KiB"));
    }
    let mut buf = alloc::vec![0u8; len as usize];
    // SAFETY: READ writes at most `len` bytes into `buf` and returns how many it did not read.
    let missed = unsafe { syscall!(READ, fd, buf.as_mut_ptr(), buf.len()) };
    // SAFETY: the handle OPEN returned, closed once.
    unsafe { syscall!(CLOSE, fd) };
    if missed != 0 {
        return Err(fail("short read of the input file"));
    }
    String::from_utf8(buf).map_err(|_| fail("the input file is not UTF-8"))
}

/// Fills the free stack below the current frame with [`PAINT`].
fn paint_stack(low: usize) {
    let here = cortex_m::register::msp::read() as usize - 256;
    let mut p = (low + 3) & !3;
    while p < here {
        // SAFETY: the words between the end of .bss and below the live frame are unused stack.
        unsafe { core::ptr::write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
}

/// The lowest address the stack reached: the first word above `low` no longer painted.
fn painted_until(low: usize) -> usize {
    let mut p = (low + 3) & !3;
    // SAFETY: reads of words between the end of .bss and the stack, all mapped RAM.
    while unsafe { core::ptr::read_volatile(p as *const u32) } == PAINT {
        p += 4;
    }
    p
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    hprintln!("panic={}", info);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::bkpt();
    }
}
