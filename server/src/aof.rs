//! The append-only file: the replication stream written to disk with Redis's fsync
//! policies, replayed at start-up, rewritten without fork.
//!
//! Writes reach the AOF from `Replication::append_raw`, under the stream lock, so the file
//! holds them in apply order. A dedicated thread writes and fsyncs:
//!
//! - `appendfsync always`: the thread is woken for every write and fsyncs whatever arrived
//!   while the previous fsync ran (group commit); a connection answers its writes only
//!   once the fsync that covers them is done ([`Aof::wait_synced`]);
//! - `everysec`: the thread writes every few milliseconds and fsyncs once a second;
//! - `no`: the thread writes, the OS decides when to flush.
//!
//! BGREWRITEAOF takes a snapshot under the stream lock, switches appends to a new
//! incremental file at that same instant, writes the snapshot as the new base in the
//! background and then switches the manifest.

use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use persistence::{AofDir, AofFile, FileKind, Manifest};

use crate::server::Server;

/// `appendfsync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// fsync before answering.
    Always = 0,
    /// fsync once a second.
    EverySec = 1,
    /// never fsync.
    No = 2,
}

impl Policy {
    /// Parses the config value.
    pub fn parse(text: &str) -> Policy {
        match text {
            "always" => Policy::Always,
            "no" => Policy::No,
            _ => Policy::EverySec,
        }
    }
}

struct Pending {
    buf: Vec<u8>,
    /// `appended` value covered by `buf`'s end.
    upto: u64,
    /// Shared with the writer thread, which writes and fsyncs without holding `pending`
    /// (appenders never wait for an fsync).
    file: Arc<File>,
    current: AofFile,
}

/// A rewrite's base file being written slot by slot.
type BaseJob = Arc<crate::slot_snapshot::SlotSnapshot<std::io::BufWriter<File>>>;

/// An fsync slower than this is logged (as Redis logs its slow background fsyncs).
const SLOW_FSYNC: Duration = Duration::from_secs(2);

/// How long the writer waits for more writes before an `always` fsync.
const GROUP_COMMIT_WINDOW: Duration = Duration::from_micros(100);

/// The live AOF.
pub struct Aof {
    /// The directory and manifest.
    pub dir: AofDir,
    policy: AtomicU8,
    /// Held while bytes are written to a file and fsynced, taken before `pending`: file
    /// writes stay in append order even when a rewrite switches files.
    io: Mutex<()>,
    pending: Mutex<Pending>,
    wake: Condvar,
    appended: AtomicU64,
    synced: AtomicU64,
    synced_notify: tokio::sync::Notify,
    /// Whether a rewrite runs.
    pub rewriting: AtomicBool,
    /// Whether the last write or fsync failed.
    pub write_failed: AtomicBool,
    /// Whether the last rewrite failed.
    pub rewrite_failed: AtomicBool,
    /// Seconds the last rewrite took (-1: none yet).
    pub last_rewrite_secs: AtomicU64,
    /// Completed rewrites.
    pub rewrites: AtomicU64,
    stop: AtomicBool,
}

impl Aof {
    /// Opens the AOF for appending to the last incremental file (creating the layout if
    /// needed) and starts the writer thread.
    pub fn start(dir: AofDir, policy: Policy) -> Result<Arc<Aof>, String> {
        let mut manifest = dir.manifest().map_err(|e| e.to_string())?;
        let current = match manifest.incrs.last() {
            Some(f) => f.clone(),
            None => {
                let f = dir.file(manifest.next_seq(), FileKind::Incr);
                manifest.incrs.push(f.clone());
                dir.write_manifest(&manifest).map_err(|e| e.to_string())?;
                f
            }
        };
        let file = dir.append_to(&current).map_err(|e| e.to_string())?;
        let aof = Arc::new(Aof {
            dir,
            policy: AtomicU8::new(policy as u8),
            pending: Mutex::new(Pending {
                buf: Vec::with_capacity(64 * 1024),
                upto: 0,
                file: Arc::new(file),
                current,
            }),
            io: Mutex::new(()),
            wake: Condvar::new(),
            appended: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            synced_notify: tokio::sync::Notify::new(),
            rewriting: AtomicBool::new(false),
            write_failed: AtomicBool::new(false),
            rewrite_failed: AtomicBool::new(false),
            last_rewrite_secs: AtomicU64::new(u64::MAX),
            rewrites: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let writer = aof.clone();
        std::thread::Builder::new()
            .name("aof-writer".into())
            .spawn(move || writer.writer_loop())
            .map_err(|e| e.to_string())?;
        Ok(aof)
    }

    /// The fsync policy.
    pub fn policy(&self) -> Policy {
        match self.policy.load(Ordering::Relaxed) {
            0 => Policy::Always,
            2 => Policy::No,
            _ => Policy::EverySec,
        }
    }

    /// Changes the fsync policy.
    pub fn set_policy(&self, p: Policy) {
        self.policy.store(p as u8, Ordering::Relaxed);
    }

    /// Appends stream bytes (the caller holds the stream lock); returns the position a
    /// connection must see synced before answering, under `always`.
    pub fn append(&self, bytes: &[u8]) -> u64 {
        let mut p = self.pending.lock();
        p.buf.extend_from_slice(bytes);
        let upto = self
            .appended
            .fetch_add(bytes.len() as u64, Ordering::AcqRel)
            + bytes.len() as u64;
        p.upto = upto;
        drop(p);
        if self.policy() == Policy::Always {
            self.wake.notify_one();
        }
        upto
    }

    /// Bytes appended so far.
    pub fn appended(&self) -> u64 {
        self.appended.load(Ordering::Acquire)
    }

    /// Waits until everything up to `target` is fsynced (`always`).
    pub async fn wait_synced(&self, target: u64) {
        loop {
            let notified = self.synced_notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.synced.load(Ordering::Acquire) >= target || self.stop.load(Ordering::Relaxed) {
                return;
            }
            notified.await;
        }
    }

    fn writer_loop(&self) {
        let mut last_fsync = Instant::now();
        loop {
            {
                let mut p = self.pending.lock();
                if p.buf.is_empty() && !self.stop.load(Ordering::Relaxed) {
                    let wait = if self.policy() == Policy::Always {
                        Duration::from_millis(100)
                    } else {
                        Duration::from_millis(10)
                    };
                    self.wake.wait_for(&mut p, wait);
                }
            }
            if self.policy() == Policy::Always {
                // Group commit: the clients answered by the previous fsync are sending their
                // next writes right now; a short window lets one fsync cover them all.
                std::thread::sleep(GROUP_COMMIT_WINDOW);
            }
            let io = self.io.lock();
            let (buf, upto, file) = {
                let mut p = self.pending.lock();
                let buf = std::mem::take(&mut p.buf);
                (buf, p.upto, p.file.clone())
            };
            let policy = self.policy();
            let mut ok = true;
            if !buf.is_empty() {
                ok &= (&*file).write_all(&buf).is_ok();
                let fsync_now = policy == Policy::Always
                    || (policy == Policy::EverySec
                        && last_fsync.elapsed() >= Duration::from_secs(1));
                if fsync_now {
                    let started = Instant::now();
                    ok &= file.sync_data().is_ok();
                    last_fsync = Instant::now();
                    if started.elapsed() >= SLOW_FSYNC {
                        tracing::warn!(
                            "AOF fsync is taking too long (disk is busy?): {} ms. Writes are not stalled; with appendfsync always their replies wait for it.",
                            started.elapsed().as_millis()
                        );
                    }
                }
            } else if policy == Policy::EverySec && last_fsync.elapsed() >= Duration::from_secs(1) {
                let _ = file.sync_data();
                last_fsync = Instant::now();
            }
            drop(io);
            self.write_failed.store(!ok, Ordering::Relaxed);
            if policy == Policy::Always || buf.is_empty() {
                self.synced.fetch_max(upto, Ordering::AcqRel);
                self.synced_notify.notify_waiters();
            }
            if self.stop.load(Ordering::Relaxed) && self.pending.lock().buf.is_empty() {
                return;
            }
        }
    }

    /// Writes and fsyncs everything pending (shutdown).
    pub fn flush(&self) {
        let io = self.io.lock();
        let mut p = self.pending.lock();
        let buf = std::mem::take(&mut p.buf);
        let _ = (&*p.file).write_all(&buf);
        let _ = p.file.sync_all();
        drop(p);
        drop(io);
        self.stop.store(true, Ordering::Relaxed);
        self.wake.notify_all();
        self.synced_notify.notify_waiters();
    }

    /// Total size and base size of the AOF files.
    pub fn sizes(&self) -> (u64, u64) {
        self.dir.sizes()
    }

    /// Starts a forkless rewrite in the background; false if one already runs.
    pub fn rewrite(self: &Arc<Self>, server: &Arc<Server>) -> bool {
        if self.rewriting.swap(true, Ordering::AcqRel) {
            return false;
        }
        let started = Instant::now();
        let result = self.begin_rewrite(server);
        let aof = self.clone();
        let server_for_job = server.clone();
        std::thread::spawn(move || {
            let outcome = result.and_then(|(job, base, incr)| {
                // Write the remaining slots (writers wrote the ones they touched), then make
                // the base durable before the manifest names it.
                let file = job
                    .finish(&server_for_job)
                    .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
                    .map_err(|e| e.to_string())?;
                file.sync_all().map_err(|e| e.to_string())?;
                if let Some(dir) = aof.dir.path(&base).parent() {
                    if let Ok(d) = File::open(dir) {
                        let _ = d.sync_all();
                    }
                }
                aof.dir
                    .write_manifest(&Manifest {
                        base: Some(base),
                        incrs: vec![incr],
                    })
                    .map_err(|e| e.to_string())?;
                aof.dir.remove_unlisted();
                Ok(())
            });
            match outcome {
                Ok(()) => {
                    tracing::info!("Background AOF rewrite finished successfully");
                    aof.rewrite_failed.store(false, Ordering::Relaxed);
                    aof.rewrites.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    tracing::warn!("Background AOF rewrite failed: {e}");
                    aof.rewrite_failed.store(true, Ordering::Relaxed);
                }
            }
            aof.last_rewrite_secs
                .store(started.elapsed().as_secs(), Ordering::Relaxed);
            aof.rewriting.store(false, Ordering::Release);
        });
        true
    }

    /// Under the stream lock: start a slot-by-slot snapshot into the new base file (see
    /// [`crate::slot_snapshot`]) and switch appends to a new incremental file, so that base
    /// + new incr is exactly the data set from now on. Writers are held only for the switch.
    fn begin_rewrite(&self, server: &Server) -> Result<(BaseJob, AofFile, AofFile), String> {
        let guard = server.replication.lock();
        let manifest = self.dir.manifest().map_err(|e| e.to_string())?;
        let seq = manifest.next_seq();
        let base = self.dir.file(seq, FileKind::Base);
        let incr = self.dir.file(seq + 1, FileKind::Incr);
        let base_path = self.dir.path(&base);
        let file = File::create(&base_path)
            .map_err(|e| format!("Can't create {}: {e}", base_path.display()))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        crate::replication::primary::write_header(server, &mut out)
            .map_err(|e| format!("Can't write {}: {e}", base_path.display()))?;
        let file = self.dir.append_to(&incr).map_err(|e| e.to_string())?;
        {
            let _io = self.io.lock();
            let mut p = self.pending.lock();
            let buf = std::mem::take(&mut p.buf);
            let _ = (&*p.file).write_all(&buf);
            let _ = p.file.sync_data();
            p.file = Arc::new(file);
            p.current = incr.clone();
        }
        // The old files stay listed until the new base is complete.
        let mut during = manifest.clone();
        during.incrs.push(incr.clone());
        self.dir
            .write_manifest(&during)
            .map_err(|e| e.to_string())?;
        let job = crate::slot_snapshot::SlotSnapshot::start(server, out, crate::clock::unix_ms());
        drop(guard);
        Ok((job, base, incr))
    }
}

/// Replays the AOF files at start-up. A torn tail in the last file is cut off (with a
/// warning) when `truncate_tail`; any other damage stops start-up with the file, offset
/// and reason.
pub fn load(server: &Server, dir: &AofDir, truncate_tail: bool) -> Result<(usize, u64), String> {
    let files = dir.load_order().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut client = crate::replication::replica::loading_client(server);
    let (mut commands, mut bytes) = (0usize, 0u64);
    for (i, path) in files.iter().enumerate() {
        let data = match std::fs::read(path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("Can't read the AOF file {}: {e}", path.display())),
        };
        let mut count = 0usize;
        let used = crate::replication::replica::replay(server, &mut client, &data, &mut count)
            .map_err(|(offset, why)| {
                format!(
                    "Bad file format reading the append only file {}: at offset {offset}: {why}. Use 'cinnabar check-aof --fix <filename>' to fix it.",
                    path.display()
                )
            })?;
        commands += count;
        bytes += used as u64;
        if used < data.len() {
            let last = i + 1 == files.len();
            if last && truncate_tail {
                tracing::warn!(
                    "!!! Warning: short read while loading the AOF file {}!!! AOF loaded anyway because aof-load-truncated is enabled; truncating {} bytes at offset {used}",
                    path.display(),
                    data.len() - used
                );
                if let Ok(f) = std::fs::OpenOptions::new().write(true).open(path) {
                    let _ = f.set_len(used as u64);
                    let _ = f.sync_all();
                }
            } else {
                return Err(format!(
                    "Unexpected end of file reading the append only file {} at offset {used}. Use 'cinnabar check-aof --fix <filename>' to fix it.",
                    path.display()
                ));
            }
        }
    }
    server.clients.unregister(client.info.id);
    let secs = started.elapsed().as_secs_f64().max(1e-6);
    tracing::info!(
        "DB loaded from append only file: {commands} commands, {:.1} MB in {secs:.3} seconds ({:.1} MB/s)",
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / secs
    );
    Ok((commands, bytes))
}

/// `cinnabar check-aof [--fix] <file>`: reports the first damaged offset of an AOF file
/// (or of every file of a manifest) and, with `--fix`, truncates it there.
pub fn check_aof(args: &[String]) -> i32 {
    let fix = args.iter().any(|a| a == "--fix");
    let Some(path) = args.iter().find(|a| !a.starts_with("--")) else {
        eprintln!("Usage: cinnabar check-aof [--fix] <file.aof|file.manifest>");
        return 1;
    };
    let path = std::path::PathBuf::from(path);
    let files: Vec<std::path::PathBuf> = if path.extension().is_some_and(|e| e == "manifest") {
        let dir = path
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .to_path_buf();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".manifest"))
            .unwrap_or("appendonly.aof");
        match AofDir::open(dir, name).and_then(|d| d.load_order()) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("{e}");
                return 1;
            }
        }
    } else {
        vec![path]
    };
    let mut status = 0;
    for f in files {
        let data = match std::fs::read(&f) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("Cannot open file {}: {e}", f.display());
                return 1;
            }
        };
        let ok_up_to = crate::resp::scan_commands(&data);
        println!(
            "AOF analyzed: filename={}, size={}, ok_up_to={}, diff={}",
            f.display(),
            data.len(),
            ok_up_to,
            data.len() - ok_up_to
        );
        if ok_up_to == data.len() {
            println!("AOF {} is valid", f.display());
        } else if fix {
            match std::fs::OpenOptions::new()
                .write(true)
                .open(&f)
                .and_then(|h| h.set_len(ok_up_to as u64))
            {
                Ok(()) => println!("Successfully truncated AOF {}", f.display()),
                Err(e) => {
                    eprintln!("Failed to truncate AOF {}: {e}", f.display());
                    status = 1;
                }
            }
        } else {
            println!(
                "AOF {} is not valid. Use the --fix option to try fixing it.",
                f.display()
            );
            status = 1;
        }
    }
    status
}
