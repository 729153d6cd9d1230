#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the account-store tests (Debian's postgresql packages, no
# systemd): `.ci/postgres.sh start DIR` makes and starts a cluster in DIR on 127.0.0.1 with a free
# port and prints TOYZ_TEST_POSTGRES=postgres://toyz@127.0.0.1:PORT/postgres (also written to
# DIR/url); `.ci/postgres.sh stop DIR` stops it. The user `toyz` is a superuser trusted from
# 127.0.0.1 without a password; fsync is off: test data only.
set -euo pipefail

usage() {
  echo "usage: $0 start|stop DIR" >&2
  exit 2
}
[ $# -eq 2 ] || usage
cmd=$1
dir=$2

# The newest installed server (postgresql 15 on Debian 12); installed when missing.
find_bin() {
  local b
  b=$(ls -d /usr/lib/postgresql/*/bin 2> /dev/null | sort -V | tail -n 1 || true)
  if [ -z "$b" ] || [ ! -x "$b/pg_ctl" ]; then
    local sudo
    sudo=$([ "$(id -u)" = 0 ] || echo sudo)
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >&2
    b=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  echo "$b"
}

# PostgreSQL refuses to run as root: as root, run its tools as the `postgres` system user (made by
# the Debian package), who must own DIR.
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# A port nobody listens on: the kernel's pick where python3 is installed, else a random one that
# refuses a connection.
free_port() {
  if command -v python3 > /dev/null; then
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
    return
  fi
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<> "/dev/tcp/127.0.0.1/$p") 2> /dev/null; then
      echo "$p"
      return
    fi
  done
  echo "no free port found" >&2
  exit 1
}

case $cmd in
  start)
    bin=$(find_bin)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [ ! -e "$dir/data" ] || { echo "$dir/data exists: stop and remove it first" >&2; exit 1; }
    if [ "$(id -u)" = 0 ]; then
      chown postgres: "$dir"
      runuser -u postgres -- test -w "$dir" || {
        echo "the postgres user cannot reach $dir (a folder above it is closed): use one under /tmp" >&2
        exit 1
      }
    fi
    as_pg "$bin/initdb" -D "$dir/data" -U toyz --auth=trust --locale=C.UTF-8 -E UTF8 > "$dir/initdb.log"
    port=$(free_port)
    cat >> "$dir/data/postgresql.conf" << EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
EOF
    # Trust for toyz from 127.0.0.1 only (initdb's --auth=trust also covers the local socket).
    echo "host all toyz 127.0.0.1/32 trust" > "$dir/data/pg_hba.conf"
    echo "local all toyz trust" >> "$dir/data/pg_hba.conf"
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start > /dev/null
    deadline=$((SECONDS + 60))
    until "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U toyz -d postgres; do
      if [ $SECONDS -ge $deadline ]; then
        echo "PostgreSQL in $dir did not accept connections within 60 s:" >&2
        tail -n 20 "$dir/postgres.log" >&2
        exit 1
      fi
      sleep 0.2
    done
    url="postgres://toyz@127.0.0.1:$port/postgres"
    echo "$url" > "$dir/url"
    echo "TOYZ_TEST_POSTGRES=$url"
    ;;
  stop)
    bin=$(find_bin)
    if [ -f "$dir/data/postmaster.pid" ]; then
      as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop > /dev/null
    fi
    ;;
  *)
    usage
    ;;
esac
