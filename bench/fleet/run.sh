#!/usr/bin/env bash
# PgVault fleet benchmark, one instance: the memory and CPU a streamed cluster costs `pgvault serve`.
#
#   bash bench/fleet/run.sh                 (from the repository root; see bench/README.md)
#   COUNTS="1 10" WINDOW=30 bash bench/fleet/run.sh
#
# For each N in COUNTS, one `pgvault serve` streams N small real PostgreSQL 15 clusters (initdb in /tmp, as the
# postgres user; shared_buffers 16MB) into a local repository with a SQLite catalog. Once every cluster's first base
# backup is complete (its backup AVAILABLE in the catalog) and SETTLE seconds have passed, two windows of WINDOW seconds:
#   idle   no writes to the clusters (PostgreSQL's own background WAL only)
#   load   each cluster under RATE transactions/s (pgbench -R RATE -c 1, one small INSERT each), after SETTLE s of it
# In each window, every second, serve's VmRSS (/proc/PID/status), and its CPU (utime + stime, /proc/PID/stat) over the
# window. The report gives per N: RSS (median of the window) and CPU (% of one core), and per cluster: the slope
# between the smallest and each larger N, (RSS(N) - RSS(N0)) / (N - N0) and the same for CPU, against the targets of
# an idle streamed cluster: <= 4 MB of RSS and <= 0.2 % of a core (issue 16, item 4).
#
# Knobs (environment): COUNTS="1 10 25" WINDOW=60 SETTLE=20 RATE=1 REV=HEAD (commit to build, exported with git archive;
#   REV= builds the working tree) SKIP_BUILD=1 (reuse OUT/pgvault) PG_BIN=/usr/lib/postgresql/15/bin KEEP=0 (1 keeps /tmp
#   files) OUT=bench/fleet/out EXTRA="" (more serve arguments, e.g. "--set PgVault:Engine:WalSegmentMemoryHold=00:00:00")
# Output: OUT/run/results.tsv (one line per N and window) and the report on stdout (also OUT/run/report.txt).
# Exit status: 0 every target met, 2 the benchmark ran but a target was missed, anything else: the benchmark broke.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
for a in "$@"; do
    case $a in
        -h|--help) sed -n '2,22p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "unknown argument $a" >&2; exit 1 ;;
    esac
done
OUT=${OUT:-$HERE/out}
COUNTS=${COUNTS:-"1 10 25"}
WINDOW=${WINDOW:-60}
SETTLE=${SETTLE:-20}
RATE=${RATE:-1}
REV=${REV-HEAD}
SKIP_BUILD=${SKIP_BUILD:-0}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
KEEP=${KEEP:-0}
EXTRA=${EXTRA:-}
RUNDIR=$OUT/run
# shellcheck source=../lib.sh
source "$ROOT/bench/lib.sh"

[[ $(id -u) == 0 ]] || die "run as root (the clusters run as the postgres user)"
[[ -x $PG_BIN/initdb && -x $PG_BIN/pgbench ]] || die "PostgreSQL 15 binaries not found in PG_BIN=$PG_BIN"
command -v sqlite3 >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sqlite3 >/dev/null; }

rm -rf "$RUNDIR"
mkdir -p "$RUNDIR"
build_pgvault
PGVAULT=$OUT/pgvault/pgvault

MAX=0
for n in $COUNTS; do (( n > MAX )) && MAX=$n; done
WORK=$(mktemp -d /tmp/pgvault-fleet.XXXXXX)
chmod 755 "$WORK"
chown postgres: "$WORK"
SERVE_PID=""
LOAD_PIDS=()
cleanup() {
    local p
    for p in "${LOAD_PIDS[@]}"; do stop_pid "$p"; done
    stop_pid "$SERVE_PID"
    for ((i = 1; i <= MAX; i++)); do
        [[ -f $WORK/pg$i/data/postmaster.pid ]] && as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg$i/data" -m immediate -w stop >/dev/null 2>&1 || true
    done
    if [[ $KEEP == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------------------------------------------ the clusters
PORTS=()
log "starting $MAX PostgreSQL clusters in $WORK"
for ((i = 1; i <= MAX; i++)); do
    d=$WORK/pg$i
    mkdir -p "$d"
    chown postgres: "$d"
    as_pg "$PG_BIN/initdb" --no-sync -D "$d/data" -U postgres -A trust -E UTF8 --locale=C >"$d/initdb.log" 2>&1 \
        || { cat "$d/initdb.log" >&2; die "initdb $i failed"; }
    port=$(free_port) || die "no free port"
    as_pg tee -a "$d/data/postgresql.conf" >/dev/null <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$d'
shared_buffers = 16MB
max_connections = 20
max_wal_senders = 5
max_replication_slots = 5
fsync = off
CONF
    as_pg "$PG_BIN/pg_ctl" -D "$d/data" -l "$d/server.log" -w -t 60 start >/dev/null || { cat "$d/server.log" >&2; die "cluster $i did not start"; }
    "$PSQL" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -c "CREATE TABLE tick (at timestamptz NOT NULL DEFAULT now(), n int)" >/dev/null
    PORTS+=("$port")
done
echo "INSERT INTO tick (n) VALUES (1);" >"$WORK/tick.sql"
chmod 644 "$WORK/tick.sql"

# ------------------------------------------------------------------------------------------------------ one N
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
cpu_ticks() { awk '{ sub(/^.*\) /, ""); split($0, f, " "); print f[12] + f[13] }' "/proc/$1/stat"; }

# Samples serve's RSS every second for WINDOW s; appends "n phase rss_median_kB rss_max_kB cpu_pct" to results.tsv.
window() { # N PHASE
    local n=$1 phase=$2 c0 c1 t0 t1 samples=$RUNDIR/rss-$1-$2.txt
    : >"$samples"
    c0=$(cpu_ticks "$SERVE_PID"); t0=$(now_us)
    for ((s = 0; s < WINDOW; s++)); do
        rss_kb "$SERVE_PID" >>"$samples"
        sleep 1
    done
    c1=$(cpu_ticks "$SERVE_PID"); t1=$(now_us)
    sort -n "$samples" | awk -v n="$n" -v ph="$phase" -v c="$((c1 - c0))" -v hz="$CLK_TCK" -v us="$((t1 - t0))" '
        { v[NR] = $1 } END { printf "%s %s %d %d %.3f\n", n, ph, v[int((NR + 1) / 2)], v[NR], 100 * c / hz / (us / 1e6) }' >>"$RUNDIR/results.tsv"
    tail -1 "$RUNDIR/results.tsv" | awk '{ printf "  N=%s %s: RSS %.1f MB (median; max %.1f MB), CPU %.2f %% of a core\n", $1, $2, $3 / 1024, $4 / 1024, $5 }' >&2
}

run_n() { # N
    local n=$1 dd=$WORK/serve-$1 conf=$WORK/serve-$1.json port i clusters=""
    mkdir -p "$dd"
    for ((i = 1; i <= n; i++)); do
        [[ -n $clusters ]] && clusters+=","
        clusters+="{ \"Id\": \"$(cat /proc/sys/kernel/random/uuid)\", \"DisplayName\": \"fleet-$i\",
          \"ConnectionString\": \"Host=127.0.0.1;Port=${PORTS[i - 1]};Username=postgres\", \"BaseBackupSchedule\": \"0 0 1 1 *\" }"
    done
    cat >"$conf" <<JSON
{ "PgVault": { "DataDirectory": "$dd", "RateLimit": { "PermitsPerSecond": 0 },
  "Engine": { "PostgresBinDirectory": "$PG_BIN", "ExpirySchedule": "" }, "Clusters": [ $clusters ] } }
JSON
    port=$(free_port) || die "no free port"
    log "N=$n: pgvault serve on 127.0.0.1:$port, waiting for $n first base backups"
    # shellcheck disable=SC2086
    "$PGVAULT" serve --config "$conf" --urls "http://127.0.0.1:$port" $EXTRA >"$RUNDIR/serve-$n.log" 2>&1 &
    SERVE_PID=$!
    local db=$dd/catalog.db deadline=$((SECONDS + 600)) ready=0
    while :; do
        kill -0 "$SERVE_PID" 2>/dev/null || { tail -20 "$RUNDIR/serve-$n.log" >&2; die "pgvault serve exited"; }
        if [[ -f $db ]]; then
            ready=$(sqlite3 -cmd '.timeout 2000' "$db" "SELECT count(*) FROM backups WHERE is_active = 1 AND state = 'AVAILABLE'" 2>/dev/null || echo 0)
            (( ready >= n )) && break
        fi
        (( SECONDS < deadline )) || die "only $ready of $n backups AVAILABLE after 10 minutes (log: $RUNDIR/serve-$n.log)"
        sleep 1
    done
    log "N=$n: every backup AVAILABLE; settling $SETTLE s, then $WINDOW s idle"
    sleep "$SETTLE"
    window "$n" idle
    log "N=$n: $RATE transaction(s)/s per cluster; settling $SETTLE s, then $WINDOW s"
    LOAD_PIDS=()
    for ((i = 1; i <= n; i++)); do
        "$PG_BIN/pgbench" -n -c 1 -R "$RATE" -T "$((SETTLE + WINDOW + 5))" -f "$WORK/tick.sql" -h 127.0.0.1 -p "${PORTS[i - 1]}" -U postgres postgres \
            >"$RUNDIR/pgbench-$n-$i.log" 2>&1 &
        LOAD_PIDS+=($!)
    done
    sleep "$SETTLE"
    window "$n" load
    for p in "${LOAD_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    LOAD_PIDS=()
    kill -TERM "$SERVE_PID"
    wait "$SERVE_PID" 2>/dev/null || true
    SERVE_PID=""
    for ((i = 1; i <= n; i++)); do
        "$PSQL" -X -q -h 127.0.0.1 -p "${PORTS[i - 1]}" -U postgres -d postgres \
            -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots" >/dev/null
    done
    rm -rf "$dd"
}

: >"$RUNDIR/results.tsv"
for n in $COUNTS; do run_n "$n"; done

# ------------------------------------------------------------------------------------------------------ report
{
    echo "== bench/fleet: pgvault serve streaming N small PostgreSQL 15 clusters ($(cat "$OUT/pgvault.rev"), $(nproc) cores, $(date -u +%F))"
    echo "window $WINDOW s after $SETTLE s of settling; load = $RATE transaction(s)/s per cluster; serve arguments: ${EXTRA:-none}"
    printf '%-6s %-6s %12s %12s %12s\n' N phase "RSS MB" "RSS max MB" "CPU % core"
    awk '{ printf "%-6s %-6s %12.1f %12.1f %12.2f\n", $1, $2, $3 / 1024, $4 / 1024, $5 }' "$RUNDIR/results.tsv"
    echo "per cluster (slope from the smallest N):"
    awk '{ k = $2; if (!(k in n0) || $1 < n0[k]) { n0[k] = $1; r0[k] = $3; c0[k] = $5 } row[NR] = $0 }
         END { bad = 0
               for (i = 1; i <= NR; i++) { split(row[i], f, " "); k = f[2]; if (f[1] == n0[k]) continue
                   r = (f[3] - r0[k]) / 1024 / (f[1] - n0[k]); c = (f[5] - c0[k]) / (f[1] - n0[k])
                   v = (k != "idle") ? "" : (r <= 4 && c <= 0.2 ? "  PASS (idle target: <= 4 MB, <= 0.2 %)" : "  FAIL (idle target: <= 4 MB, <= 0.2 %)")
                   if (v ~ /FAIL/) bad = 1
                   printf "  %-4s N=%s..%s: %.2f MB RSS and %.3f %% of a core per cluster%s\n", k, n0[k], f[1], r, c, v }
               exit bad }' "$RUNDIR/results.tsv" && status=0 || status=2
    exit $status
} | tee "$RUNDIR/report.txt"
exit "${PIPESTATUS[0]}"
