//! Cluster mode inside the server: the state machine behind a lock, the routing snapshot
//! connections read, and the bus driver.
//!
//! - [`routing`]: the immutable slot map and every redirect rule;
//! - [`driver`]: the tokio tasks that own the bus sockets and the timer, feed the state
//!   machine and carry out its actions (send, save nodes.conf, deliver PUBLISH).

pub mod driver;
pub mod routing;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use cluster::{Action, Cluster};
use parking_lot::{Mutex, RwLock};
use tokio::sync::mpsc;

use routing::Routing;

/// The server's cluster state.
pub struct ClusterNode {
    state: Mutex<Cluster>,
    routing: RwLock<Arc<Routing>>,
    version: AtomicU64,
    actions: mpsc::UnboundedSender<Action>,
    /// Serialises writers of nodes.conf (they share one temporary file) and holds the
    /// state version last written, so an older snapshot never overwrites a newer one.
    saved_version: Mutex<u64>,
    /// Where nodes.conf lives.
    pub config_path: PathBuf,
}

impl ClusterNode {
    /// Wraps a state machine; actions go to `actions` (the driver).
    pub fn new(
        state: Cluster,
        config_path: PathBuf,
        actions: mpsc::UnboundedSender<Action>,
    ) -> ClusterNode {
        let routing = Routing::from_state(&state);
        ClusterNode {
            state: Mutex::new(state),
            routing: RwLock::new(Arc::new(routing)),
            version: AtomicU64::new(1),
            actions,
            config_path,
            saved_version: Mutex::new(0),
        }
    }

    /// The current routing snapshot.
    pub fn routing(&self) -> Arc<Routing> {
        self.routing.read().clone()
    }

    /// A number that changes whenever the routing snapshot does.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Runs `f` on the state, then republishes routing and hands the actions to the driver.
    ///
    /// A [`Action::Save`] is carried out here, before returning and before any later
    /// action is sent: a command that changed the configuration replies only once nodes.conf
    /// holds the change (as Redis does), and a vote is on disk before it leaves the node.
    pub fn with<R>(&self, f: impl FnOnce(&mut Cluster) -> (R, Vec<Action>)) -> R {
        let (result, actions, snapshot) = {
            let mut state = self.state.lock();
            let (result, actions) = f(&mut state);
            *self.routing.write() = Arc::new(Routing::from_state(&state));
            let version = self.version.fetch_add(1, Ordering::AcqRel) + 1;
            let snapshot = actions
                .iter()
                .any(|a| matches!(a, Action::Save))
                .then(|| (cluster::nodes_conf::render_file(&state), version));
            (result, actions, snapshot)
        };
        if let Some((text, version)) = snapshot {
            if let Err(e) = self.write_config(&text, version) {
                tracing::warn!("Could not save the cluster configuration: {e}");
            }
        }
        // A Save goes on to the driver too, as the sign that the configuration changed.
        for a in actions {
            let _ = self.actions.send(a);
        }
        result
    }

    /// Reads the state.
    pub fn read<R>(&self, f: impl FnOnce(&Cluster) -> R) -> R {
        f(&self.state.lock())
    }

    /// Writes nodes.conf atomically (temp file, fsync, rename).
    pub fn save(&self) -> std::io::Result<()> {
        let (text, version) = {
            let state = self.state.lock();
            (
                cluster::nodes_conf::render_file(&state),
                self.version.load(Ordering::Acquire),
            )
        };
        self.write_config(&text, version)
    }

    /// Writes `text` (the state at `version`) to nodes.conf atomically: temporary file,
    /// fsync, rename. Skipped when a snapshot at least as new is already written.
    fn write_config(&self, text: &str, version: u64) -> std::io::Result<()> {
        let mut saved = self.saved_version.lock();
        if *saved > version {
            return Ok(());
        }
        let tmp = self.config_path.with_extension("tmp");
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.config_path)?;
        if let Some(dir) = self.config_path.parent() {
            if let Ok(d) = std::fs::File::open(if dir.as_os_str().is_empty() {
                std::path::Path::new(".")
            } else {
                dir
            }) {
                let _ = d.sync_all();
            }
        }
        *saved = version;
        Ok(())
    }
}
