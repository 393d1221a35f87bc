//! Starting and stopping real `cinnabar` processes for black-box tests.
//!
//! Every server gets a free loopback port and its own temporary directory, and is killed
//! (SIGKILL) and reaped when its [`TestServer`] is dropped, also when the test fails.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Path of the binary under test.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cinnabar"))
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh, empty temporary directory, removed by the caller's guard.
pub fn temp_dir(tag: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!(
        "cinnabar-test-{}-{}-{}",
        std::process::id(),
        tag,
        n
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// A free TCP port on 127.0.0.1 (free when asked; the start-up retries if it is taken).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Polls `f` every 20 ms until it returns `Some`, or panics after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until `replica` reports its link to the primary up.
pub fn wait_link_up(replica: &TestServer) {
    wait_for("replication link up", Duration::from_secs(15), || {
        replica
            .raw()
            .cmd_str("INFO replication")
            .text()
            .contains("master_link_status:up\r\n")
            .then_some(())
    });
}

/// A running `cinnabar` process.
pub struct TestServer {
    child: Option<Child>,
    config: Option<String>,
    /// The client port.
    pub port: u16,
    /// The server's working directory (its log is `server.log` there).
    pub dir: PathBuf,
}

impl TestServer {
    /// Starts a server with extra command-line options.
    pub fn start(extra: &[&str]) -> TestServer {
        Self::start_with(None, extra)
    }

    /// Starts a server with an optional config file and extra options.
    pub fn start_with(config: Option<&str>, extra: &[&str]) -> TestServer {
        let dir = temp_dir("srv");
        for _attempt in 0..5 {
            let port = free_port();
            let mut cmd = Command::new(binary());
            if let Some(text) = config {
                let path = dir.join("redis.conf");
                std::fs::write(&path, text).expect("write config");
                cmd.arg(&path);
            }
            cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--dir", dir.to_str().expect("utf-8 path")])
                .args(["--enable-debug-command", "yes"])
                .args(extra)
                .stdin(Stdio::null())
                .stdout(std::fs::File::create(dir.join("server.log")).expect("log"))
                .stderr(std::fs::File::create(dir.join("server.err")).expect("log"));
            let child = cmd.spawn().expect("spawn cinnabar");
            let mut server = TestServer {
                child: Some(child),
                config: config.map(String::from),
                port,
                dir: dir.clone(),
            };
            if server.wait_ready() {
                return server;
            }
            // The port was taken (or start-up failed): try again, keeping the directory.
            server.kill();
            std::mem::forget(server);
        }
        panic!(
            "cinnabar did not start; log:\n{}",
            std::fs::read_to_string(dir.join("server.err")).unwrap_or_default()
        );
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(_)) = child.try_wait() {
                    return false;
                }
            }
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                // Any reply to PING (NOAUTH included) but -LOADING means the server is
                // serving.
                if s.write_all(b"PING\r\n").is_ok() {
                    let mut buf = [0u8; 9];
                    if s.read_exact(&mut buf[..1]).is_ok() && (buf[0] == b'+' || buf[0] == b'-') {
                        let loading = buf[0] == b'-'
                            && s.read_exact(&mut buf[1..]).is_ok()
                            && &buf[..] == b"-LOADING ";
                        if !loading {
                            return true;
                        }
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// A raw connection.
    pub fn raw(&self) -> RawConn {
        RawConn::connect(self.port)
    }

    /// A `redis` crate connection.
    pub fn client(&self) -> redis::Connection {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))
            .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(5)))
            .expect("redis connection")
    }

    /// Runs `redis-cli -p <port> args...`.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli must be installed (apt-get install redis-tools)")
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// Sends a signal to the process.
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits for the process to exit on its own and returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let mut child = self.child.take().expect("running");
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("server did not exit within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the process again on the same port and directory (after it exited).
    pub fn restart(&mut self, extra: &[&str]) {
        self.kill();
        let mut cmd = Command::new(binary());
        if self.config.is_some() {
            cmd.arg(self.dir.join("redis.conf"));
        }
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--dir", self.dir.to_str().expect("utf-8 path")])
            .args(["--enable-debug-command", "yes"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(self.dir.join("server.log")).expect("log"))
            .stderr(std::fs::File::create(self.dir.join("server.err")).expect("log"));
        self.child = Some(cmd.spawn().expect("spawn cinnabar"));
        assert!(
            self.wait_ready(),
            "restart failed: {}",
            std::fs::read_to_string(self.dir.join("server.err")).unwrap_or_default()
        );
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A RESP reply as parsed by the tests (independent of the server's own code).
#[derive(Debug, Clone, PartialEq)]
pub enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
    Array(Vec<Resp>),
    Map(Vec<(Resp, Resp)>),
    Set(Vec<Resp>),
    Double(String),
    Bool(bool),
    Verbatim(String),
    Push(Vec<Resp>),
    BigNumber(String),
}

impl Resp {
    /// The bulk payload as a string.
    pub fn text(&self) -> String {
        match self {
            Resp::Bulk(b) => String::from_utf8_lossy(b).into(),
            Resp::Simple(s) | Resp::Error(s) | Resp::Verbatim(s) | Resp::Double(s) => s.clone(),
            Resp::Int(n) => n.to_string(),
            other => format!("{other:?}"),
        }
    }
}

/// A raw TCP connection speaking RESP, for byte-level tests.
pub struct RawConn {
    /// The socket.
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl RawConn {
    /// Connects to 127.0.0.1:port, or `None` if nothing accepts there yet.
    pub fn try_connect(port: u16) -> Option<RawConn> {
        TcpStream::connect(("127.0.0.1", port))
            .ok()
            .map(|_| RawConn::connect(port))
    }

    /// Connects to a server on 127.0.0.1 (panics if it does not accept).
    pub fn connect(port: u16) -> RawConn {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        RawConn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Writes raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Sends a command as a multibulk.
    pub fn cmd(&mut self, args: &[&[u8]]) -> Resp {
        self.send(&encode(args));
        self.read()
    }

    /// Sends a command given as text words.
    pub fn cmd_str(&mut self, line: &str) -> Resp {
        let words: Vec<&[u8]> = line.split_whitespace().map(|w| w.as_bytes()).collect();
        self.cmd(&words)
    }

    /// A numeric field of `INFO all`; panics if it is missing.
    pub fn info_field(&mut self, field: &str) -> i64 {
        let text = self.cmd_str("INFO all").text();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("INFO lacks {field}"))
    }

    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 65536];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) => panic!("read failed: {e}"),
        }
    }

    /// Reads one reply (panics on timeout or EOF).
    pub fn read(&mut self) -> Resp {
        loop {
            if let Some((r, used)) = parse(&self.buf) {
                self.buf.drain(..used);
                return r;
            }
            if !self.fill() {
                panic!("connection closed while waiting for a reply");
            }
        }
    }

    /// Whether the server closed the connection (after any pending bytes).
    pub fn is_closed(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }
}

/// Encodes a command as a RESP multibulk.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn line(buf: &[u8]) -> Option<(&[u8], usize)> {
    let pos = buf.windows(2).position(|w| w == b"\r\n")?;
    Some((&buf[..pos], pos + 2))
}

/// Parses one reply from `buf`: the reply and the bytes it used, or `None` if incomplete.
pub fn parse(buf: &[u8]) -> Option<(Resp, usize)> {
    let (&kind, _) = buf.split_first()?;
    let (l, mut used) = line(&buf[1..])?;
    used += 1;
    let text = String::from_utf8_lossy(l).into_owned();
    let aggregate = |n: usize, used: &mut usize| -> Option<Vec<Resp>> {
        let mut items = Vec::new();
        for _ in 0..n {
            let (r, u) = parse(&buf[*used..])?;
            *used += u;
            items.push(r);
        }
        Some(items)
    };
    Some(match kind {
        b'+' => (Resp::Simple(text), used),
        b'-' => (Resp::Error(text), used),
        b':' => (Resp::Int(text.parse().ok()?), used),
        b'_' => (Resp::Nil, used),
        b',' => (Resp::Double(text), used),
        b'#' => (Resp::Bool(text == "t"), used),
        b'(' => (Resp::BigNumber(text), used),
        b'$' | b'=' => {
            let n: i64 = text.parse().ok()?;
            if n < 0 {
                return Some((Resp::Nil, used));
            }
            let n = n as usize;
            if buf.len() < used + n + 2 {
                return None;
            }
            let data = buf[used..used + n].to_vec();
            if kind == b'=' {
                (
                    Resp::Verbatim(String::from_utf8_lossy(&data[4..]).into()),
                    used + n + 2,
                )
            } else {
                (Resp::Bulk(data), used + n + 2)
            }
        }
        b'*' | b'~' | b'>' => {
            let n: i64 = text.parse().ok()?;
            if n < 0 {
                return Some((Resp::Nil, used));
            }
            let items = aggregate(n as usize, &mut used)?;
            let r = match kind {
                b'*' => Resp::Array(items),
                b'~' => Resp::Set(items),
                _ => Resp::Push(items),
            };
            (r, used)
        }
        b'%' => {
            let n: usize = text.parse().ok()?;
            let items = aggregate(2 * n, &mut used)?;
            let mut pairs = Vec::new();
            let mut it = items.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                pairs.push((k, v));
            }
            (Resp::Map(pairs), used)
        }
        _ => panic!("unexpected reply type byte {:?}", kind as char),
    })
}

/// Shorthand for a bulk reply.
pub fn bulk(s: &str) -> Resp {
    Resp::Bulk(s.as_bytes().to_vec())
}

/// Shorthand for a simple-string reply.
pub fn simple(s: &str) -> Resp {
    Resp::Simple(s.to_string())
}

/// Shorthand for an error reply.
pub fn error(s: &str) -> Resp {
    Resp::Error(s.to_string())
}

/// Runs a Python script from tests/py with the server's port; panics with its output on
/// failure.
pub fn run_python(script: &str, args: &[&str]) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/py")
        .join(script);
    let out = Command::new("python3")
        .arg(&path)
        .args(args)
        .output()
        .expect("python3");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{script} failed:\n{text}");
    text
}

/// A multi-process Cinnabar cluster built with `redis-cli --cluster create`.
pub struct TestCluster {
    /// The nodes, primaries first.
    pub nodes: Vec<TestServer>,
}

impl TestCluster {
    /// Starts `primaries` primaries with `replicas` replicas each and joins them.
    pub fn start(primaries: usize, replicas: usize, extra: &[&str]) -> TestCluster {
        let count = primaries * (1 + replicas);
        let nodes: Vec<TestServer> = (0..count)
            .map(|_| {
                let bus = free_port().to_string();
                let mut args = vec!["--cluster-enabled", "yes", "--cluster-port", bus.as_str()];
                args.extend_from_slice(extra);
                TestServer::start(&args)
            })
            .collect();
        let cluster = TestCluster { nodes };
        let mut cmd = Command::new("redis-cli");
        cmd.arg("--cluster").arg("create");
        for n in &cluster.nodes {
            cmd.arg(format!("127.0.0.1:{}", n.port));
        }
        cmd.args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"]);
        let out = cmd.output().expect("redis-cli");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success() && text.contains("[OK] All 16384 slots covered."),
            "cluster create failed:\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        cluster.wait_healthy();
        cluster
    }

    /// Waits until every node reports `cluster_state:ok` and `redis-cli --cluster check`
    /// finds all nodes agreeing.
    pub fn wait_healthy(&self) {
        wait_for(
            "cluster_state:ok on every node",
            Duration::from_secs(30),
            || {
                self.nodes
                    .iter()
                    .all(|n| {
                        let out = n.cli(&["cluster", "info"]);
                        String::from_utf8_lossy(&out.stdout).contains("cluster_state:ok")
                    })
                    .then_some(())
            },
        );
        wait_for("all nodes to agree", Duration::from_secs(30), || {
            let out = self.check();
            (out.contains("[OK] All nodes agree about slots configuration.")
                && out.contains("[OK] All 16384 slots covered."))
            .then_some(())
        });
    }

    /// `redis-cli --cluster check` output.
    pub fn check(&self) -> String {
        let out = Command::new("redis-cli")
            .args([
                "--cluster",
                "check",
                &format!("127.0.0.1:{}", self.nodes[0].port),
            ])
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The node id of node `i`.
    pub fn id(&self, i: usize) -> String {
        let out = self.nodes[i].cli(&["cluster", "myid"]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}
