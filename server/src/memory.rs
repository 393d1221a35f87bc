//! Memory figures for INFO and MEMORY: what the allocator really holds (jemalloc's
//! statistics) and the process's resident set size.

use std::sync::atomic::Ordering::Relaxed;

use crate::server::Server;

/// Bytes currently allocated by the process: jemalloc's `stats.allocated` less what sits
/// freed in its thread caches (`stats.arenas.<all>.tcache_bytes`), which would otherwise
/// keep counting memory that eviction already released.
pub fn used_memory() -> u64 {
    let _ = tikv_jemalloc_ctl::epoch::advance();
    let allocated = tikv_jemalloc_ctl::stats::allocated::read().unwrap_or(0) as u64;
    // SAFETY: the name is NUL-terminated and the value type is size_t, as jemalloc documents.
    let cached =
        unsafe { tikv_jemalloc_ctl::raw::read::<usize>(b"stats.arenas.4096.tcache_bytes\0") }
            .unwrap_or(0) as u64;
    allocated.saturating_sub(cached)
}

/// Resident set size in bytes, from /proc/self/statm.
pub fn rss() -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = text
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * page.max(4096) as u64
}

/// Updates `used_memory_peak`.
pub fn update_peak(server: &Server) {
    server.peak_memory.fetch_max(used_memory(), Relaxed);
}

/// Formats bytes the way INFO's `_human` fields do (`1.50M`).
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    const K: f64 = 1024.0;
    if b < K {
        format!("{bytes}B")
    } else if b < K * K {
        format!("{:.2}K", b / K)
    } else if b < K * K * K {
        format!("{:.2}M", b / K / K)
    } else if b < K * K * K * K {
        format!("{:.2}G", b / K / K / K)
    } else {
        format!("{:.2}T", b / K / K / K / K)
    }
}

#[cfg(test)]
mod tests {
    use super::human;

    #[test]
    fn human_units() {
        assert_eq!(human(10), "10B");
        assert_eq!(human(1536), "1.50K");
        assert_eq!(human(3 << 20), "3.00M");
    }
}
