#!/usr/bin/env bash
# Starts (or stops) a local 3-primary / 3-replica Cinnabar cluster on 127.0.0.1:7000-7005.
#
#   scripts/cluster.sh start   # build, start six nodes, join them with redis-cli --cluster create
#   scripts/cluster.sh stop    # stop the six nodes (SIGTERM)
#   scripts/cluster.sh clean   # stop and delete their data directories
#
# Data and logs live in ./cluster-data/<port>. Needs redis-cli (installed if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
PORTS="7000 7001 7002 7003 7004 7005"
DATA=cluster-data

ensure_redis_cli() {
  if ! command -v redis-cli >/dev/null 2>&1; then
    echo "installing redis-tools (redis-cli)..."
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-tools >/dev/null
  fi
}

stop() {
  for p in $PORTS; do
    if [ -f "$DATA/$p/cinnabar.pid" ]; then
      kill "$(cat "$DATA/$p/cinnabar.pid")" 2>/dev/null || true
      rm -f "$DATA/$p/cinnabar.pid"
    fi
  done
}

start() {
  ensure_redis_cli
  cargo build --release --quiet
  fresh=1
  for p in $PORTS; do
    mkdir -p "$DATA/$p"
    [ -s "$DATA/$p/nodes.conf" ] && fresh=0
    # A config file per node, so that CONFIG REWRITE (redis-cli --cluster set-timeout) works.
    if [ ! -f "$DATA/$p/redis.conf" ]; then
      cat > "$DATA/$p/redis.conf" <<CONF
port $p
bind 127.0.0.1
cluster-enabled yes
cluster-config-file nodes.conf
cluster-node-timeout 5000
dir $PWD/$DATA/$p
pidfile $PWD/$DATA/$p/cinnabar.pid
logfile $PWD/$DATA/$p/cinnabar.log
CONF
    fi
    setsid ./target/release/cinnabar "$DATA/$p/redis.conf" </dev/null >/dev/null 2>&1 &
  done
  for p in $PORTS; do
    for _ in $(seq 1 100); do
      redis-cli -p "$p" ping >/dev/null 2>&1 && break
      sleep 0.1
    done
  done
  if [ "$fresh" = 1 ]; then
    redis-cli --cluster create $(for p in $PORTS; do printf '127.0.0.1:%s ' "$p"; done) \
      --cluster-replicas 1 --cluster-yes
  fi
  echo
  echo "Cluster ready on 127.0.0.1:7000-7005. Connect with: redis-cli -c -p 7000"
  echo "Stop it with: scripts/cluster.sh stop"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  clean) stop; rm -rf "$DATA" ;;
  *) echo "usage: $0 start|stop|clean" >&2; exit 2 ;;
esac
