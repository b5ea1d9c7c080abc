//! The daemon's resident memory after start. Starting touches much of the binary's code
//! once (reading config, compiling every skill, migrating the database), and the kernel
//! maps code in 64 KiB runs around each page touched: a 26 MB binary leaves ~15 MiB of
//! its code resident although an idle daemon runs a few pages of it. Once armed, the
//! daemon advises the kernel (`MADV_PAGEOUT`) that its binary's read-only mappings may be
//! dropped; what it runs afterwards is read back on use. Nothing is lost: these pages
//! are clean copies of the executable file.

/// Advises the kernel to drop this process's resident pages of the executable's
/// read-only file mappings; returns the bytes advised (0 where unsupported).
pub fn release_startup_pages() -> usize {
    let Ok(exe) = std::fs::read_link("/proc/self/exe") else { return 0 };
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else { return 0 };
    let mut advised = 0;
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else { continue };
        let path = fields.nth(3);
        // Private, not writable: code and read-only data of the executable itself.
        if path != exe.to_str() || perms.contains('w') || !perms.ends_with('p') {
            continue;
        }
        let Some((start, end)) = range.split_once('-') else { continue };
        let (Ok(start), Ok(end)) = (usize::from_str_radix(start, 16), usize::from_str_radix(end, 16)) else { continue };
        if advise_pageout(start, end - start) {
            advised += end - start;
        }
    }
    advised
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn advise_pageout(start: usize, len: usize) -> bool {
    // SAFETY: the range is one whole mapping of this process, read from /proc/self/maps,
    // of a file mapped privately without write permission: its pages are clean copies
    // of the file. MADV_PAGEOUT only drops them from memory; the next access reads them
    // back from the file unchanged, so no memory that Rust code can observe changes.
    unsafe { rustix::mm::madvise(start as *mut std::ffi::c_void, len, rustix::mm::Advice::LinuxPageOut).is_ok() }
}

#[cfg(not(target_os = "linux"))]
fn advise_pageout(_start: usize, _len: usize) -> bool {
    false
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_executables_read_only_mappings_are_advised() {
        // The test binary is the executable here: its code mappings are found and advised.
        assert!(super::release_startup_pages() > 0);
    }
}
