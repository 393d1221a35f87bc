//! Snapshots: SAVE, BGSAVE, `save` rules, the dump file loaded at start-up.
//!
//! The file (`dir`/`dbfilename`) is Cinnabar's own versioned format, not Redis's RDB:
//!
//! ```text
//! "CNBRSNAP" | version u16 LE | aux count u32 LE | (len u32, key, len u32, value)*
//!            | body | CRC-64 (Redis polynomial) of everything before, u64 LE
//! ```
//!
//! The body is the same command stream that feeds a replica's full sync and the AOF base
//! (`FLUSHALL`, the function libraries, one `RESTORE ... ABSTTL` per key), so one piece of
//! code serialises the data set for all three. The aux fields carry the replication id and
//! offset the data corresponds to: a replica restarted from its snapshot asks its primary
//! for a partial resync from there.
//!
//! The file is written slot by slot without stopping writes (see [`crate::slot_snapshot`]);
//! it starts under the replication stream lock, so on a replica (whose applied stream takes
//! that lock) and on a primary with replicas or the AOF it is exactly the state at the
//! recorded offset; a lone primary's snapshot is consistent per slot.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::server::Server;

const MAGIC: &[u8; 8] = b"CNBRSNAP";
const VERSION: u16 = 2;
static CRC64: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);

/// Snapshot bookkeeping for INFO persistence and the `save` rules.
pub struct SnapshotState {
    /// A BGSAVE is running.
    pub in_progress: AtomicBool,
    /// Whether the last save failed.
    pub last_failed: AtomicBool,
    /// Seconds the last background save took (`u64::MAX`: none yet).
    pub last_duration_s: AtomicU64,
    /// Write count (see [`Server::dirty`]) at the last successful save.
    pub dirty_at_save: AtomicU64,
}

impl Default for SnapshotState {
    fn default() -> Self {
        SnapshotState {
            in_progress: AtomicBool::new(false),
            last_failed: AtomicBool::new(false),
            last_duration_s: AtomicU64::new(u64::MAX),
            dirty_at_save: AtomicU64::new(0),
        }
    }
}

/// The header: magic, version and aux fields.
fn header(aux: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(aux.len() as u32).to_le_bytes());
    for (k, v) in aux {
        for part in [k.as_bytes(), v.as_bytes()] {
            out.extend_from_slice(&(part.len() as u32).to_le_bytes());
            out.extend_from_slice(part);
        }
    }
    out
}

/// A writer that checksums what passes through it.
struct CrcWriter<W: Write> {
    inner: W,
    digest: crc::Digest<'static, u64>,
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.digest.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Serialises a snapshot file from aux fields and a command-stream body.
pub fn encode(aux: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut out = header(aux);
    out.extend_from_slice(body);
    let crc = CRC64.checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// A decoded snapshot file: its aux fields and its body.
pub struct Decoded<'a> {
    /// Key/value metadata.
    pub aux: Vec<(String, String)>,
    /// The command stream.
    pub body: &'a [u8],
}

/// Checks and splits a snapshot file.
pub fn decode(data: &[u8]) -> Result<Decoded<'_>, String> {
    if data.len() < MAGIC.len() + 2 + 4 + 8 || &data[..8] != MAGIC {
        return Err("not a Cinnabar snapshot file (bad magic)".into());
    }
    let (content, crc) = data.split_at(data.len() - 8);
    let expected = u64::from_le_bytes(crc.try_into().expect("8 bytes"));
    if CRC64.checksum(content) != expected {
        return Err("checksum mismatch: the file is damaged".into());
    }
    let mut pos = 8;
    let mut take = |n: usize| -> Result<&[u8], String> {
        let end = pos + n;
        if end > content.len() {
            return Err("truncated header".into());
        }
        let s = &content[pos..end];
        pos = end;
        Ok(s)
    };
    let version = u16::from_le_bytes(take(2)?.try_into().expect("2 bytes"));
    if version != VERSION {
        return Err(format!("unsupported snapshot version {version}"));
    }
    let count = u32::from_le_bytes(take(4)?.try_into().expect("4 bytes"));
    let mut aux = Vec::new();
    for _ in 0..count {
        let mut field = || -> Result<String, String> {
            let n = u32::from_le_bytes(take(4)?.try_into().expect("4 bytes")) as usize;
            Ok(String::from_utf8_lossy(take(n)?).into_owned())
        };
        let k = field()?;
        let v = field()?;
        aux.push((k, v));
    }
    let body = &content[pos..];
    Ok(Decoded { aux, body })
}

/// The snapshot file's path (`dbfilename`, relative to `dir`, which is the working
/// directory).
pub fn path(server: &Server) -> PathBuf {
    PathBuf::from(
        server
            .config
            .get("dbfilename")
            .unwrap_or_else(|| "dump.rdb".into()),
    )
}

/// Writes the snapshot to `path` (temporary file, fsync, rename, fsync of the dir): the
/// data set and the replication position it matches. Returns the file size.
fn write_file(server: &Server, path: &Path) -> std::io::Result<u64> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let file = std::fs::File::create(&tmp)?;
    let mut out = CrcWriter {
        inner: std::io::BufWriter::with_capacity(1 << 20, file),
        digest: CRC64.digest(),
    };
    let job = {
        let guard = server.replication.lock();
        let (replid, offset) = server
            .replication
            .with_log(|l| (l.replid.clone(), l.offset));
        let aux = vec![
            (
                "cinnabar-ver".to_string(),
                crate::CINNABAR_VERSION.to_string(),
            ),
            (
                "ctime".to_string(),
                (crate::clock::unix_ms() / 1000).to_string(),
            ),
            ("repl-id".to_string(), replid),
            ("repl-offset".to_string(), offset.to_string()),
        ];
        out.write_all(&header(&aux))?;
        crate::replication::primary::write_header(server, &mut out)?;
        let job = crate::slot_snapshot::SlotSnapshot::start(server, out, crate::clock::unix_ms());
        drop(guard);
        job
    };
    let CrcWriter { inner, digest } = job.finish(server)?;
    let mut inner = inner;
    inner.write_all(&digest.finalize().to_le_bytes())?;
    let file = inner.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    drop(file);
    std::fs::rename(&tmp, path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(size)
}

/// SAVE: writes the snapshot now, on the calling thread.
pub fn save(server: &Server) -> Result<(), String> {
    let started = std::time::Instant::now();
    let dirty = server.dirty();
    let path = path(server);
    let result = write_file(server, &path).map_err(|e| {
        format!(
            "Failed opening the temp RDB file {} (in server root dir {}) for saving: {e}",
            path.display(),
            std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_default()
        )
    });
    let state = &server.snapshot;
    match &result {
        Ok(size) => {
            server
                .lastsave
                .store(crate::clock::unix_ms() / 1000, Ordering::Relaxed);
            state.dirty_at_save.store(dirty, Ordering::Relaxed);
            state.last_failed.store(false, Ordering::Relaxed);
            tracing::info!(
                "DB saved on disk ({size} bytes in {:.3} seconds)",
                started.elapsed().as_secs_f64()
            );
        }
        Err(e) => {
            state.last_failed.store(true, Ordering::Relaxed);
            tracing::warn!("{e}");
        }
    }
    result.map(|_| ())
}

/// BGSAVE: writes the snapshot on a background thread; `false` if one is already running.
pub fn bgsave(server: &Arc<Server>) -> bool {
    let state = &server.snapshot;
    if state.in_progress.swap(true, Ordering::AcqRel) {
        return false;
    }
    tracing::info!("Background saving started");
    let server = server.clone();
    let spawned = std::thread::Builder::new()
        .name("bgsave".into())
        .spawn(move || {
            let started = std::time::Instant::now();
            let ok = save(&server).is_ok();
            let state = &server.snapshot;
            state
                .last_duration_s
                .store(started.elapsed().as_secs(), Ordering::Relaxed);
            state.in_progress.store(false, Ordering::Release);
            if ok {
                tracing::info!("Background saving terminated with success");
            }
        });
    if spawned.is_err() {
        state.in_progress.store(false, Ordering::Release);
        return false;
    }
    true
}

/// Writes since the last successful save (`rdb_changes_since_last_save`).
pub fn changes_since_save(server: &Server) -> u64 {
    server
        .dirty()
        .saturating_sub(server.snapshot.dirty_at_save.load(Ordering::Relaxed))
}

/// The `save` rules: `(seconds, changes)` pairs.
pub fn rules(server: &Server) -> Vec<(u64, u64)> {
    let text = server.config.get("save").unwrap_or_default();
    let nums: Vec<u64> = text
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    nums.chunks_exact(2).map(|c| (c[0], c[1])).collect()
}

/// Starts a BGSAVE when a `save` rule is met (called from the server cron).
pub fn maybe_save(server: &Arc<Server>, now_s: u64) {
    if server.snapshot.in_progress.load(Ordering::Relaxed) {
        return;
    }
    let changes = changes_since_save(server);
    if changes == 0 {
        return;
    }
    let since = now_s.saturating_sub(server.lastsave.load(Ordering::Relaxed));
    if let Some((secs, n)) = rules(server)
        .into_iter()
        .find(|&(secs, n)| since >= secs && changes >= n)
    {
        tracing::info!("{n} changes in {secs} seconds. Saving...");
        bgsave(server);
    }
}

/// Loads the snapshot file at start-up, if there is one; returns the number of commands
/// replayed. The replication id and offset it recorded become this node's.
pub fn load(server: &Server) -> Result<Option<usize>, String> {
    let path = path(server);
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("Can't read the snapshot {}: {e}", path.display())),
    };
    let started = std::time::Instant::now();
    let decoded = decode(&data).map_err(|e| {
        format!(
            "Short read or damaged snapshot {}: {e}. Remove it or fix the data.",
            path.display()
        )
    })?;
    let mut client = crate::replication::replica::loading_client(server);
    let mut count = 0usize;
    let used = crate::replication::replica::replay(server, &mut client, decoded.body, &mut count)
        .map_err(|(offset, why)| {
        format!(
            "Bad snapshot {} at body offset {offset}: {why}",
            path.display()
        )
    })?;
    if used != decoded.body.len() {
        return Err(format!(
            "Bad snapshot {}: its body ends in the middle of a command",
            path.display()
        ));
    }
    let get = |k: &str| {
        decoded
            .aux
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    if let (Some(id), Some(offset)) = (get("repl-id"), get("repl-offset")) {
        if let Ok(offset) = offset.parse::<u64>() {
            if id.len() == 40 {
                server.replication.restore_position(id, offset);
            }
        }
    }
    if let Some(t) = get("ctime").and_then(|t| t.parse().ok()) {
        server.lastsave.store(t, Ordering::Relaxed);
    }
    server
        .snapshot
        .dirty_at_save
        .store(server.dirty(), Ordering::Relaxed);
    tracing::info!(
        "DB loaded from disk: {count} commands, {:.1} MB in {:.3} seconds",
        data.len() as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    Ok(Some(count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage_detection() {
        let aux = vec![("repl-id".to_string(), "a".repeat(40))];
        let file = encode(&aux, b"*1\r\n$4\r\nPING\r\n");
        let d = decode(&file).unwrap();
        assert_eq!(d.aux, aux);
        assert_eq!(d.body, b"*1\r\n$4\r\nPING\r\n");
        for i in 0..file.len() {
            let mut bad = file.clone();
            bad[i] ^= 0x40;
            assert!(decode(&bad).is_err(), "flipped byte {i} went unnoticed");
        }
        assert!(decode(&file[..file.len() - 1]).is_err());
        assert!(decode(b"").is_err());
    }
}
