"""Helpers the side-by-side benchmark scripts share (imported from benches/)."""
import os
import socket
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The release build every script compares with redis-server.
CINNABAR = os.path.join(ROOT, "target/release/cinnabar")
PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    """A free loopback port below 55000, so that port + 10000 (the cluster bus) is valid."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 55000:
            return port


def cli(port, *args, timeout=60):
    """redis-cli's stripped output, or "" when it does not answer within `timeout` s."""
    try:
        return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True,
                              timeout=timeout).stdout.strip()
    except subprocess.TimeoutExpired:
        return ""


def rss_bytes(pid):
    """Resident memory of one process."""
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE


def cpu_seconds(pid):
    """User + system CPU time one process has used."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK
