//! Cinnabar's persistence crate: the AOF and snapshot files.
//!
//! It stores bytes and does not interpret commands. This is a skeleton: the multi-part AOF
//! (append, fsync policy, group commit, rewrite, manifest, replay, torn-tail repair) and the
//! snapshot format arrive with the persistence issue.

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
}
