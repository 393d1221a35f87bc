//! Cinnabar's persistence crate: the append-only file, laid out as Redis 7's multi-part AOF.
//!
//! It stores bytes and does not interpret commands: the server hands it the same RESP
//! stream that feeds the replicas, and replays what [`AofDir::load_order`] lists through its
//! normal command path. Layout, in `<dir>/<appenddirname>/`:
//!
//! - `<name>.<seq>.base.aof`: a snapshot written by a rewrite (commands that rebuild the
//!   data set), at most one;
//! - `<name>.<seq>.incr.aof`: the write stream since that snapshot, in order;
//! - `<name>.manifest`: which files make up the AOF, switched atomically (temp file, fsync,
//!   rename, fsync of the directory).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Errors raised by the persistence layer.
#[derive(Debug, thiserror::Error)]
pub enum PersistenceError {
    /// An I/O failure on a persistence file.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file the operation was on.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The manifest does not parse.
    #[error("Bad manifest {path} at line {line}: {reason}")]
    Manifest {
        /// The manifest file.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PersistenceError + '_ {
    move |source| PersistenceError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The kind of an AOF file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A snapshot.
    Base,
    /// Part of the stream.
    Incr,
}

/// One file listed in the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AofFile {
    /// File name inside the AOF directory.
    pub name: String,
    /// Sequence number.
    pub seq: u64,
    /// Base or incremental.
    pub kind: FileKind,
}

/// The manifest: the files that make up the AOF, in load order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// The snapshot, if any.
    pub base: Option<AofFile>,
    /// The incremental files, oldest first.
    pub incrs: Vec<AofFile>,
}

impl Manifest {
    /// Renders the manifest text (Redis's `file <name> seq <n> type <b|i>` lines).
    pub fn render(&self) -> String {
        let mut s = String::new();
        for f in self.base.iter().chain(self.incrs.iter()) {
            let t = match f.kind {
                FileKind::Base => "b",
                FileKind::Incr => "i",
            };
            s.push_str(&format!("file {} seq {} type {t}\n", f.name, f.seq));
        }
        s
    }

    /// Parses a manifest.
    pub fn parse(text: &str, path: &Path) -> Result<Manifest, PersistenceError> {
        let mut m = Manifest::default();
        for (i, line) in text.lines().enumerate() {
            let bad = |reason: &str| PersistenceError::Manifest {
                path: path.display().to_string(),
                line: i + 1,
                reason: reason.into(),
            };
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.is_empty() || words[0].starts_with('#') {
                continue;
            }
            let mut name = None;
            let mut seq = None;
            let mut kind = None;
            for pair in words.chunks(2) {
                let value = pair
                    .get(1)
                    .copied()
                    .ok_or_else(|| bad("odd number of fields"))?;
                match pair[0] {
                    "file" => name = Some(value.to_string()),
                    "seq" => seq = Some(value.parse::<u64>().map_err(|_| bad("bad seq"))?),
                    "type" => {
                        kind = Some(match value {
                            "b" => FileKind::Base,
                            "i" => FileKind::Incr,
                            _ => return Err(bad("unknown file type")),
                        })
                    }
                    _ => {}
                }
            }
            let file = AofFile {
                name: name.ok_or_else(|| bad("no file name"))?,
                seq: seq.ok_or_else(|| bad("no seq"))?,
                kind: kind.ok_or_else(|| bad("no type"))?,
            };
            if file.name.contains('/') {
                return Err(bad("file names may not contain '/'"));
            }
            match file.kind {
                FileKind::Base => m.base = Some(file),
                FileKind::Incr => m.incrs.push(file),
            }
        }
        Ok(m)
    }

    /// The next free sequence number.
    pub fn next_seq(&self) -> u64 {
        self.base
            .iter()
            .chain(self.incrs.iter())
            .map(|f| f.seq)
            .max()
            .unwrap_or(0)
            + 1
    }
}

/// An AOF directory.
#[derive(Debug, Clone)]
pub struct AofDir {
    /// The directory.
    pub dir: PathBuf,
    /// The base name (`appendfilename`).
    pub name: String,
}

fn fsync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

impl AofDir {
    /// The AOF of `name` inside `dir` (created if missing).
    pub fn open(dir: PathBuf, name: &str) -> Result<AofDir, PersistenceError> {
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        Ok(AofDir {
            dir,
            name: name.to_string(),
        })
    }

    /// Path of the manifest.
    pub fn manifest_path(&self) -> PathBuf {
        self.dir.join(format!("{}.manifest", self.name))
    }

    /// Path of a file of the AOF.
    pub fn path(&self, file: &AofFile) -> PathBuf {
        self.dir.join(&file.name)
    }

    /// Reads the manifest (empty if there is none yet).
    pub fn manifest(&self) -> Result<Manifest, PersistenceError> {
        let path = self.manifest_path();
        match std::fs::read_to_string(&path) {
            Ok(text) => Manifest::parse(&text, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// Replaces the manifest atomically: temp file, fsync, rename, fsync of the directory.
    pub fn write_manifest(&self, m: &Manifest) -> Result<(), PersistenceError> {
        let path = self.manifest_path();
        let tmp = self.dir.join(format!("temp-{}.manifest", self.name));
        {
            let mut f = File::create(&tmp).map_err(io(&tmp))?;
            f.write_all(m.render().as_bytes()).map_err(io(&tmp))?;
            f.sync_all().map_err(io(&tmp))?;
        }
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        fsync_dir(&self.dir);
        Ok(())
    }

    /// A new file entry of `kind` with sequence `seq`.
    pub fn file(&self, seq: u64, kind: FileKind) -> AofFile {
        let suffix = match kind {
            FileKind::Base => "base",
            FileKind::Incr => "incr",
        };
        AofFile {
            name: format!("{}.{seq}.{suffix}.aof", self.name),
            seq,
            kind,
        }
    }

    /// Files to replay at start-up, in order.
    pub fn load_order(&self) -> Result<Vec<PathBuf>, PersistenceError> {
        let m = self.manifest()?;
        Ok(m.base
            .iter()
            .chain(m.incrs.iter())
            .map(|f| self.path(f))
            .collect())
    }

    /// Opens (creating) a file for appending.
    pub fn append_to(&self, file: &AofFile) -> Result<File, PersistenceError> {
        let path = self.path(file);
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        fsync_dir(&self.dir);
        Ok(f)
    }

    /// Deletes files no longer listed in the manifest.
    pub fn remove_unlisted(&self) {
        let Ok(m) = self.manifest() else { return };
        let listed: Vec<String> = m
            .base
            .iter()
            .chain(m.incrs.iter())
            .map(|f| f.name.clone())
            .collect();
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with(&self.name) && name.ends_with(".aof") && !listed.contains(&name)
                {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }

    /// Total size of the listed files, and of the base alone.
    pub fn sizes(&self) -> (u64, u64) {
        let Ok(m) = self.manifest() else {
            return (0, 0);
        };
        let size = |f: &AofFile| std::fs::metadata(self.path(f)).map_or(0, |m| m.len());
        let base = m.base.as_ref().map_or(0, size);
        (base + m.incrs.iter().map(size).sum::<u64>(), base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trip_and_switch() {
        let dir = std::env::temp_dir().join(format!("cinnabar-aof-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let aof = AofDir::open(dir.clone(), "appendonly.aof").unwrap();
        assert_eq!(aof.manifest().unwrap(), Manifest::default());
        let m = Manifest {
            base: Some(aof.file(1, FileKind::Base)),
            incrs: vec![aof.file(2, FileKind::Incr)],
        };
        aof.write_manifest(&m).unwrap();
        assert_eq!(aof.manifest().unwrap(), m);
        assert_eq!(m.next_seq(), 3);
        assert_eq!(
            std::fs::read_to_string(aof.manifest_path()).unwrap(),
            "file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n"
        );
        assert!(Manifest::parse("file x seq notanumber type i\n", &dir).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
