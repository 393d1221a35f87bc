//! The `cinnabar` binary: `cinnabar [path/to/redis.conf] [--option value ...]`.

#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's start-up options. One arena for all threads: keys are freed by whichever
/// thread evicts or deletes them, and with one arena per thread (the default is four per
/// core) the freed space of one arena is not reused by the others, so under a write flood
/// at `maxmemory` the resident size grew to 1.6x `used_memory`; with one it stays at 1.3x
/// (measured with `benches/eviction.py`). Thread caches keep the common path lock-free.
/// Dirty pages go back to the system after a second instead of ten.
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8; 47] = b"narenas:1,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("check-aof") {
        std::process::exit(server::aof::check_aof(&args[1..]));
    }
    std::process::exit(server::run(args));
}
