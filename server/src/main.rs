//! The `cinnabar` binary: `cinnabar [path/to/redis.conf] [--option value ...]`.

#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("check-aof") {
        std::process::exit(server::aof::check_aof(&args[1..]));
    }
    std::process::exit(server::run(args));
}
