//! Read-only memory maps that survive their file being truncated.
//!
//! Reading a tile through a map costs one copy; reading it with `pread` costs 256 system calls (one
//! per row), which halved the cold-tile rate. But a mapped file that another process truncates (as
//! `cp` rewrites a file in place, or someone shortens a cache file) raises SIGBUS on the next access
//! to a page past its new end, and SIGBUS kills the process.
//!
//! A [`GuardedMap`] registers its address range in a fixed, lock-free table. A SIGBUS handler,
//! installed once by the program ([`install_sigbus_guard`]: a signal handler is the process's, so a
//! library call never installs one behind its back), looks the faulting address up: inside a
//! registered map, it replaces that page by a page of zeros (`mmap(MAP_FIXED)` of anonymous
//! memory), marks the map as faulted and returns, so
//! the interrupted read finishes with zeros. The reader then asks [`GuardedMap::faulted`] and turns
//! the read into an error, exactly as a short `pread` would be. A fault anywhere else goes to the
//! handler that was there before (Rust's own stack-overflow handler, or the default action), so
//! every other SIGBUS still stops the process.
//!
//! When the handler is not installed or the table is full, [`GuardedMap::new`] returns `None` and
//! callers read with `pread` (correct, slower for cold tiles).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Maps that can be guarded at once (about 32 bytes each, in static memory).
const SLOTS: usize = 8192;

const FREE: u8 = 0;
const CLAIMED: u8 = 1;
const ACTIVE: u8 = 2;

struct Slot {
    state: AtomicU8,
    start: AtomicUsize,
    end: AtomicUsize,
    faulted: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Slot = Slot {
    state: AtomicU8::new(FREE),
    start: AtomicUsize::new(0),
    end: AtomicUsize::new(0),
    faulted: AtomicBool::new(false),
};

static TABLE: [Slot; SLOTS] = [EMPTY; SLOTS];
/// Where the next claim starts looking, so claims do not all scan from slot 0.
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// The SIGBUS action that was installed before ours, to pass on faults that are not ours.
struct Previous(libc::sigaction);
// SAFETY: written once before the handler is installed, then only read.
unsafe impl Sync for Previous {}
// SAFETY: a plain C struct, written once before the handler is installed, then only read.
unsafe impl Send for Previous {}
static PREVIOUS: OnceLock<Option<Previous>> = OnceLock::new();

fn page_size() -> usize {
    static PAGE: OnceLock<usize> = OnceLock::new();
    // SAFETY: sysconf has no preconditions.
    *PAGE.get_or_init(|| match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => n as usize,
        _ => 4096,
    })
}

/// Install the process's SIGBUS handler for guarded maps, once (later calls return the first answer);
/// false if that failed. Programs call it at start (`toyz`, the benchmarks, the test harnesses);
/// until they do, nothing is mapped and files are read with `pread`.
pub fn install_sigbus_guard() -> bool {
    PREVIOUS
        .get_or_init(|| {
            // SAFETY: sigaction with a zeroed struct is how the C API is used; the handler only
            // touches atomics and calls mmap/sigaction, which are plain system calls.
            unsafe {
                let mut old: libc::sigaction = std::mem::zeroed();
                let mut new: libc::sigaction = std::mem::zeroed();
                new.sa_sigaction = on_sigbus as *const () as usize;
                new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut new.sa_mask);
                // Read the old action first so the handler always has it.
                if libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut old) != 0 {
                    return None;
                }
                let keep = Previous(old);
                if libc::sigaction(libc::SIGBUS, &new, std::ptr::null_mut()) != 0 {
                    return None;
                }
                Some(keep)
            }
        })
        .is_some()
}

extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel hands a valid siginfo to an SA_SIGINFO handler.
    let addr = unsafe { (*info).si_addr() } as usize;
    for slot in TABLE.iter() {
        if slot.state.load(Ordering::Acquire) == ACTIVE
            && slot.start.load(Ordering::Relaxed) <= addr
            && addr < slot.end.load(Ordering::Relaxed)
        {
            let page = addr & !(page_size() - 1);
            // SAFETY: the page lies inside a map this module created and that is still registered
            // (a map leaves the table before it is unmapped, and is read only while borrowed).
            let r = unsafe {
                libc::mmap(
                    page as *mut libc::c_void,
                    page_size(),
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if r != libc::MAP_FAILED {
                slot.faulted.store(true, Ordering::Release);
                return;
            }
            break;
        }
    }
    // Not ours (or the zero page could not be mapped): what would have happened without us.
    match PREVIOUS.get() {
        Some(Some(Previous(old)))
            if old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN =>
        {
            // SAFETY: a handler installed by someone else, called as it asked to be called.
            unsafe {
                if old.sa_flags & libc::SA_SIGINFO != 0 {
                    let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                        std::mem::transmute(old.sa_sigaction);
                    f(sig, info, ctx);
                } else {
                    let f: extern "C" fn(libc::c_int) = std::mem::transmute(old.sa_sigaction);
                    f(sig);
                }
            }
        }
        _ => {
            // Restore the default action and return: the access faults again and the process
            // stops with SIGBUS, as it would have.
            // SAFETY: plain sigaction call with a zeroed (SIG_DFL) action.
            unsafe {
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(libc::SIGBUS, &dfl, std::ptr::null_mut());
            }
        }
    }
}

fn claim(start: usize, end: usize) -> Option<usize> {
    let first = NEXT.fetch_add(1, Ordering::Relaxed) % SLOTS;
    for k in 0..SLOTS {
        let i = (first + k) % SLOTS;
        let slot = &TABLE[i];
        if slot
            .state
            .compare_exchange(FREE, CLAIMED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            slot.start.store(start, Ordering::Relaxed);
            slot.end.store(end, Ordering::Relaxed);
            slot.faulted.store(false, Ordering::Relaxed);
            slot.state.store(ACTIVE, Ordering::Release);
            return Some(i);
        }
    }
    None
}

/// A read-only map of part of a file whose truncation cannot crash the process (see the module).
#[derive(Debug)]
pub struct GuardedMap {
    base: *mut libc::c_void,
    map_len: usize,
    /// Offset of the requested bytes within the map (the map starts on a page boundary).
    skip: usize,
    len: usize,
    slot: usize,
}

// SAFETY: the map is read-only and owned; the raw pointer is only read through `bytes`.
unsafe impl Send for GuardedMap {}
// SAFETY: the map is read-only and owned; concurrent reads of its bytes are sound.
unsafe impl Sync for GuardedMap {}

impl GuardedMap {
    /// Map `len` bytes of `file` from `offset`. `None` if the program has not installed the guard
    /// ([`install_sigbus_guard`]), the table is full, `len` is 0, or `mmap` fails: read with `pread`
    /// then.
    pub fn new(file: &File, offset: u64, len: usize) -> Option<GuardedMap> {
        if len == 0 || !matches!(PREVIOUS.get(), Some(Some(_))) {
            return None;
        }
        let page = page_size() as u64;
        let aligned = offset - offset % page;
        let skip = (offset - aligned) as usize;
        let map_len = skip.checked_add(len)?;
        // SAFETY: a fresh read-only shared map of a file we hold open; registered before any read.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                aligned as libc::off_t,
            )
        };
        if base == libc::MAP_FAILED {
            return None;
        }
        match claim(base as usize, base as usize + map_len) {
            Some(slot) => Some(GuardedMap {
                base,
                map_len,
                skip,
                len,
                slot,
            }),
            None => {
                // SAFETY: unmapping what was just mapped and never handed out.
                unsafe { libc::munmap(base, map_len) };
                None
            }
        }
    }

    /// The mapped bytes. Pages past the file's end (it was truncated) read as zeros: check
    /// [`faulted`](Self::faulted) after reading.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the range was mapped readable and stays mapped until drop.
        unsafe { std::slice::from_raw_parts((self.base as *const u8).add(self.skip), self.len) }
    }

    /// True once any read of this map touched a page the file no longer holds: what was read since
    /// the truncation may be zeros, and the file is not what it was.
    pub fn faulted(&self) -> bool {
        TABLE[self.slot].faulted.load(Ordering::Acquire)
    }

    /// Bring every mapped page into this process's page tables now (`MADV_POPULATE_READ`, Linux
    /// 5.14+; blocks while the file is read), so that later reads take no page fault. Pages past a
    /// truncated end are an error for the kernel here, not a signal. Does nothing where unsupported.
    pub fn populate(&self) {
        // SAFETY: advice on our own mapping.
        unsafe { libc::madvise(self.base, self.map_len, libc::MADV_POPULATE_READ) };
    }
}

impl Drop for GuardedMap {
    fn drop(&mut self) {
        // Leave the table first: no read of this map is in progress (we own it), so no fault can
        // be looking for it.
        TABLE[self.slot].state.store(FREE, Ordering::Release);
        // SAFETY: unmapping our own mapping once.
        unsafe { libc::munmap(self.base, self.map_len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_truncated_file_reads_as_zeros_and_is_reported() {
        assert!(install_sigbus_guard());
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let data: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8 + 1).collect();
        f.write_all(&data).unwrap();
        f.flush().unwrap();
        let file = File::open(f.path()).unwrap();
        let map = GuardedMap::new(&file, 100, 30_000).expect("mapped");
        assert_eq!(map.bytes(), &data[100..30_100]);
        assert!(!map.faulted());
        // Truncate in place, as `cp` does before writing.
        f.as_file().set_len(5_000).unwrap();
        let sum: u64 = map.bytes().iter().map(|&b| b as u64).sum();
        assert!(map.faulted(), "the read past the new end was noticed");
        let head: u64 = data[100..5_000].iter().map(|&b| b as u64).sum();
        assert!(sum >= head, "bytes before the cut are still read");
        // Other maps are unaffected.
        let other = GuardedMap::new(&file, 0, 4_000).expect("mapped");
        assert_eq!(other.bytes(), &data[..4_000]);
        assert!(!other.faulted());
    }

    /// A SIGBUS outside every guarded map still stops the process (the handler passes it on).
    #[test]
    fn other_faults_still_stop_the_process() {
        if std::env::var_os("TOYZ_SIGBUS_CHILD").is_some() {
            assert!(install_sigbus_guard());
            let mut f = tempfile::NamedTempFile::new().unwrap();
            f.write_all(&[1u8; 65_536]).unwrap();
            let file = File::open(f.path()).unwrap();
            let _guarded = GuardedMap::new(&file, 0, 4096).expect("handler installed");
            // SAFETY: deliberately faulting in a child process.
            unsafe {
                let p = libc::mmap(
                    std::ptr::null_mut(),
                    65_536,
                    libc::PROT_READ,
                    libc::MAP_SHARED,
                    file.as_raw_fd(),
                    0,
                ) as *const u8;
                f.as_file().set_len(0).unwrap();
                let v = std::ptr::read_volatile(p.add(40_000));
                println!("read {v}: not stopped");
            }
            std::process::exit(0);
        }
        use std::os::unix::process::ExitStatusExt;
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "mapped::tests::other_faults_still_stop_the_process",
                "--exact",
            ])
            .env("TOYZ_SIGBUS_CHILD", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert_eq!(status.signal(), Some(libc::SIGBUS), "{status:?}");
    }

    #[test]
    fn maps_free_their_slots() {
        assert!(install_sigbus_guard());
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&[7u8; 8192]).unwrap();
        let file = File::open(f.path()).unwrap();
        // More maps over time than the table holds: each one gives its slot back.
        for _ in 0..(SLOTS + 100) {
            let m = GuardedMap::new(&file, 0, 8192).expect("a slot is free");
            assert_eq!(m.bytes()[8191], 7);
        }
    }
}
