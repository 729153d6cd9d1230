#!/usr/bin/env bash
# A throw-away one-node Slurm cluster for tests, without systemd.
#
#   cluster.sh start DIR   create DIR (if needed) and start munged, slurmctld and slurmd in it;
#                          returns once the node is idle and prints the client environment
#   cluster.sh stop DIR    cancel this cluster's jobs, stop the three daemons by their pid files
#
# Everything (munge key and socket, slurm.conf, state, spool, logs, pid files) lives under DIR, so
# several clusters can coexist and nothing in /etc or /run is touched. Clients must point at the
# config: `. DIR/env.sh` (or `export SLURM_CONF=DIR/slurm.conf`) before sbatch/squeue/scontrol.
#
# Needs the Debian/Ubuntu packages `slurm-wlm munge` (Debian 12: Slurm 22.05, munge 0.5.15). Runs
# as any user (the daemons and jobs then run as that user); CI usually runs it as root.
# DIR must be an absolute-able path without spaces, and short: the munge socket path
# DIR/munge.socket has to fit a Unix socket address (< 108 bytes).
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
DIR=$2
DEADLINE=${SLURM_CLUSTER_TIMEOUT:-60}   # seconds to wait for the node to become idle

log() { echo "cluster.sh: $*" >&2; }

# Is the process in pid file $1 alive and running program $2 (guards against recycled pids)?
pid_alive() {
    local pidfile=$1 prog=$2 pid
    [ -s "$pidfile" ] || return 1
    pid=$(cat "$pidfile" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [ -r "/proc/$pid/comm" ] || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$prog" ] || return 1
    # a zombie is dead: the daemons are orphans, and an init that does not reap them (some
    # container/VM inits) leaves them as zombies
    ! is_zombie "$pid"
}

is_zombie() { [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]; }

# Has process $1 exited? A zombie counts as gone (its parent, init, has to reap it).
gone() { [ ! -d "/proc/$1" ] || is_zombie "$1"; }

# Stop the daemon in pid file $1 (program $2): SIGTERM, wait up to 30 s, then SIGKILL.
stop_daemon() {
    local pidfile=$1 prog=$2 pid i
    if ! pid_alive "$pidfile" "$prog"; then
        rm -f "$pidfile"
        return 0
    fi
    pid=$(cat "$pidfile")
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do
        gone "$pid" && break
        sleep 0.1
    done
    if ! gone "$pid"; then
        log "$prog ($pid) did not exit after SIGTERM, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            gone "$pid" && break
            sleep 0.1
        done
    fi
    rm -f "$pidfile"
    log "stopped $prog ($pid)"
}

# Two distinct free TCP ports (bound at the same time so they differ).
free_ports() {
    local py
    py=$(command -v /usr/bin/python3 || command -v python3 || true)
    if [ -n "$py" ]; then
        "$py" - <<'EOF'
import socket
socks = []
for _ in range(2):
    s = socket.socket()
    s.bind(("", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
    else
        # no python: random ports in the ephemeral range that nobody listens on
        local a b
        while :; do
            a=$((20000 + RANDOM % 20000)); b=$((a + 1))
            if ! ss -Htln "( sport = :$a or sport = :$b )" | grep -q .; then break; fi
        done
        echo "$a $b"
    fi
}

dump_logs() {
    local f
    for f in "$DIR/munged.log" "$DIR/slurmctld.log" "$DIR/slurmd.log"; do
        [ -f "$f" ] || continue
        echo "----- tail $f" >&2
        tail -n 30 "$f" >&2
    done
}

on_start_exit() {
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        log "start failed"
        dump_logs
        stop
    fi
}

start() {
    for prog in munged slurmctld slurmd sinfo; do
        command -v "$prog" >/dev/null || { log "$prog not found: apt-get install -y slurm-wlm munge"; exit 1; }
    done
    mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd -P)
    case $DIR in *[[:space:]]*) log "DIR must not contain spaces: $DIR"; exit 1 ;; esac
    if pid_alive "$DIR/munged.pid" munged || pid_alive "$DIR/slurmctld.pid" slurmctld ||
        pid_alive "$DIR/slurmd.pid" slurmd; then
        log "a cluster is already running in $DIR (run: $0 stop $DIR)"
        exit 1
    fi
    # munged wants the socket's directory searchable by everyone (o+x) and its log/seed
    # directories not writable by group/other: 0755 satisfies both (0700 is refused)
    chmod 0755 "$DIR"
    mkdir -p "$DIR/state" "$DIR/spool"
    # a failed start leaves nothing running behind
    trap on_start_exit EXIT

    local user node ncpu memkb realmem ctld_port slurmd_port
    user=$(id -un)
    node=$(hostname -s)
    ncpu=$(nproc)
    memkb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
    realmem=$((memkb * 9 / 10 / 1024))   # MB, below what slurmd measures, or the node drains
    read -r ctld_port slurmd_port < <(free_ports)
    [[ ${ctld_port:-} =~ ^[0-9]+$ && ${slurmd_port:-} =~ ^[0-9]+$ ]] || { log "could not pick free ports"; exit 1; }

    # --- munge -----------------------------------------------------------------------------
    rm -f "$DIR/munge.key"
    dd if=/dev/urandom of="$DIR/munge.key" bs=1024 count=1 status=none
    chmod 0400 "$DIR/munge.key"
    rm -f "$DIR/munge.socket" "$DIR/munge.socket.lock"
    munged --key-file="$DIR/munge.key" --socket="$DIR/munge.socket" \
        --pid-file="$DIR/munged.pid" --log-file="$DIR/munged.log" \
        --seed-file="$DIR/munged.seed"
    # munged forks and only returns once its socket is ready; double-check anyway
    local i end=$((SECONDS + DEADLINE))
    while ((SECONDS < end)); do
        [ -S "$DIR/munge.socket" ] && break
        sleep 0.1
    done
    [ -S "$DIR/munge.socket" ] || { log "munged did not create $DIR/munge.socket"; exit 1; }
    if command -v munge >/dev/null && command -v unmunge >/dev/null; then
        munge -n -S "$DIR/munge.socket" | unmunge -S "$DIR/munge.socket" >/dev/null ||
            { log "munge self-test failed"; exit 1; }
    fi

    # --- slurm.conf --------------------------------------------------------------------------
    cat >"$DIR/slurm.conf" <<EOF
# generated by examples/slurm/cluster.sh
ClusterName=toyz-test
SlurmctldHost=$node(127.0.0.1)
SlurmUser=$user
SlurmdUser=$user
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
AuthInfo=socket=$DIR/munge.socket
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$DIR/plugstack.conf
# Debian has no /bin/mail by default; slurmctld logs an error for a missing MailProg
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
ReturnToService=2
# keep finished jobs visible to 'scontrol show job' for 5 minutes
MinJobAge=300
# the daemons' limits are not those of the submitting shell in CI containers
PropagateResourceLimits=NONE
NodeName=$node NodeAddr=127.0.0.1 CPUs=$ncpu RealMemory=$realmem State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
    # empty plugin stack: do not pick up /etc/slurm/plugstack.conf{,.d}
    : >"$DIR/plugstack.conf"
    cat >"$DIR/env.sh" <<EOF
export SLURM_CONF=$DIR/slurm.conf
EOF
    export SLURM_CONF=$DIR/slurm.conf

    # --- daemons -----------------------------------------------------------------------------
    # both daemonize and write their pid files; they fail fast on a bad config
    slurmctld -f "$SLURM_CONF"
    slurmd -f "$SLURM_CONF" -N "$node"

    local state="" started=$SECONDS
    end=$((SECONDS + DEADLINE))
    while ((SECONDS < end)); do
        state=$(sinfo -h -n "$node" -o %t 2>/dev/null || true)
        [ "$state" = idle ] && break
        # give the daemons a moment to write their pid files before checking on them
        if ((SECONDS - started >= 3)); then
            pid_alive "$DIR/slurmctld.pid" slurmctld || { log "slurmctld died"; exit 1; }
            pid_alive "$DIR/slurmd.pid" slurmd || { log "slurmd died"; exit 1; }
        fi
        sleep 0.2
    done
    if [ "$state" != idle ]; then
        log "node $node not idle after ${DEADLINE}s (state: ${state:-none})"
        sinfo -R >&2 || true
        exit 1
    fi
    trap - EXIT
    log "cluster up in $DIR: node $node, $ncpu CPUs, ${realmem} MB, ports $ctld_port/$slurmd_port"
    echo "export SLURM_CONF=$DIR/slurm.conf"
}

stop() {
    [ -d "$DIR" ] || { log "no such directory: $DIR"; return 0; }
    DIR=$(cd "$DIR" && pwd -P)
    # cancel this cluster's jobs first: slurmd does not kill its job steps when it exits
    if pid_alive "$DIR/slurmctld.pid" slurmctld && [ -f "$DIR/slurm.conf" ]; then
        export SLURM_CONF=$DIR/slurm.conf
        if [ -n "$(squeue -h -o %i 2>/dev/null || true)" ]; then
            scancel --user="$(id -un)" 2>/dev/null || true
            local end=$((SECONDS + 30))
            while ((SECONDS < end)); do
                [ -z "$(squeue -h -o %i 2>/dev/null || true)" ] && break
                sleep 0.2
            done
        fi
    fi
    stop_daemon "$DIR/slurmd.pid" slurmd
    stop_daemon "$DIR/slurmctld.pid" slurmctld
    stop_daemon "$DIR/munged.pid" munged
}

case $cmd in
start) start ;;
stop) stop ;;
*) usage ;;
esac
