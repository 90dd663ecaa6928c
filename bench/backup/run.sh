#!/usr/bin/env bash
# PgVault backup benchmark: `pgvault backup` against pgBackRest, pg_basebackup and a raw read of the data directory,
# on the same machine in the same run, then the RPO of `pgvault serve` under pgbench write load.
#
#   bash bench/backup/run.sh            (from the repository root; see bench/README.md)
#   bash bench/backup/run.sh --quick    (small datasets and a 15 s RPO window: a check that everything works)
#   bash bench/backup/run.sh --report   (prints the report of the last run again, from OUT/run, without measuring)
#
# Datasets, in one throwaway PostgreSQL 15 cluster (initdb in /tmp, as the postgres user):
#   pgbench  `pgbench -i -s SCALE` (SCALE=100: ~1.6 GB, very compressible)
#   mixed    `pgbench -i -s MIXED_SCALE` plus a table of RANDOM_MB of random bytes (pgcrypto's gen_random_bytes), by
#            default 60 + 1,500 MB: ~2.5 GB, ~40 % compressible (measured with zstd -3 and printed)
# Per dataset, each tool backs up the same files (frozen and checkpointed first, read once to warm the page cache):
#   tar             tar -cf - (the data directory without pg_wal) | wc -c: the raw read ceiling
#   pg_basebackup   pg_basebackup -Ft --compress=server-zstd:level=LEVEL,workers=2 --checkpoint=fast (-X stream)
#   pgvault         pgvault backup (zstd level LEVEL, CompressionWorkers=2, its own WAL streaming)
#   pgbackrest-zst  pgbackrest backup --type=full, posix repo, compress-type=zst compress-level=LEVEL process-max=2 start-fast=y
#   pgbackrest-lz4  the same with compress-type=lz4 (compress-level=1, pgBackRest's default for lz4)
# and the report gives MB/s (database bytes / wall seconds), repository bytes, peak RSS, CPU, PgVault's ratio to each.
# RPO: `pgvault serve` on the mixed dataset; after its first base backup, pgbench -c RPO_CLIENTS for RPO_SECONDS + 10 s;
# every 100 ms the primary's pg_current_wal_flush_lsn() and the active backup's end_lsn in pgvault's catalog (the
# durable end of WAL in the repository); p50/p99 of the distance in bytes and in seconds.
#
# Knobs (environment): SCALE=100 MIXED_SCALE=60 RANDOM_MB=1500 LEVEL=3 RPO_SECONDS=60 RPO_CLIENTS=4
#   DATASETS="pgbench mixed" TOOLS="tar pg_basebackup pgvault pgbackrest-zst pgbackrest-lz4" (none: no tool) RPO=1 (0 skips it)
#   RPO_FLUSH_INTERVAL= (PgVault's Engine:WalFlushInterval in the RPO run, e.g. 00:00:00.2; default: PgVault's, 1 s)
#   REV=HEAD (commit to build, exported with git archive; REV= builds the working tree) SKIP_BUILD=1 (reuse OUT/pgvault)
#   REPS=3 (runs of every tool per dataset, round robin; the report gives medians, --quick: 1)
#   PG_BIN=/usr/lib/postgresql/15/bin CHECKSUMS=0 (1: initdb --data-checksums) QUIET_WAIT=10 KEEP=0 (1 keeps /tmp files)
#   OUT=bench/backup/out
# Exit status: 0 every target met, 2 the benchmark ran but a target was missed, anything else: the benchmark broke.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
QUICK=0
REPORT_ONLY=0
for a in "$@"; do
    case $a in
        --quick) QUICK=1 ;;
        --report) REPORT_ONLY=1 ;;
        -h|--help) sed -n '2,30p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "unknown argument $a" >&2; exit 1 ;;
    esac
done
if (( QUICK )); then
    SCALE=${SCALE:-10}; MIXED_SCALE=${MIXED_SCALE:-6}; RANDOM_MB=${RANDOM_MB:-150}; RPO_SECONDS=${RPO_SECONDS:-15}
    QUIET_WAIT=${QUIET_WAIT:-3}; REPS=${REPS:-1}
fi
OUT=${OUT:-$HERE/out}
SCALE=${SCALE:-100}
MIXED_SCALE=${MIXED_SCALE:-60}
RANDOM_MB=${RANDOM_MB:-1500}
LEVEL=${LEVEL:-3}
RPO_SECONDS=${RPO_SECONDS:-60}
RPO_CLIENTS=${RPO_CLIENTS:-4}
RPO=${RPO:-1}
RPO_FLUSH_INTERVAL=${RPO_FLUSH_INTERVAL:-}  # e.g. 00:00:00.2: PgVault's Engine:WalFlushInterval for the RPO run (default: its 1 s)
DATASETS=${DATASETS:-"pgbench mixed"}
TOOLS=${TOOLS:-"tar pg_basebackup pgvault pgbackrest-zst pgbackrest-lz4"}
REV=${REV-HEAD}
SKIP_BUILD=${SKIP_BUILD:-0}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
CHECKSUMS=${CHECKSUMS:-0}
QUIET_WAIT=${QUIET_WAIT:-10}
REPS=${REPS:-3}
KEEP=${KEEP:-0}
WORKERS=2                                   # process-max, server-zstd workers, PgVault's CompressionWorkers
CLUSTER_ID=5b0c2f7e-8a41-4d6b-9c3e-0f1a2b3c4d5e
SLOT=pgvault_5b0c2f7e8a41                   # PgVault's default slot name for that id
TARGET_SPEED=1.5                            # PgVault MB/s >= 1.5 x pgBackRest's (same codec: zst)
TARGET_SIZE=1.05                            # PgVault repository <= 1.05 x pgBackRest's (zst)
TARGET_RSS_MB=300                           # peak RSS of PgVault (with its pg_basebackup child)
TARGET_RPO_S=1                              # p99 of the RPO in seconds
PGVAULT=$OUT/pgvault/pgvault
RUNDIR=$OUT/run
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

if (( REPORT_ONLY )); then
    [[ -f $RUNDIR/settings.sh ]] || { echo "no run to report in $RUNDIR" >&2; exit 1; }
    # shellcheck disable=SC1091
    source "$RUNDIR/settings.sh"
fi
STARTED=$(date +%s)
log() { printf '[%4ss] %s\n' "$(($(date +%s) - STARTED))" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
[[ $(id -u) == 0 ]] || die "run as root (PostgreSQL and pgBackRest run as the postgres user through setpriv)"

# ---------------------------------------------------------------------------------------------------------------- tools
need=()
command -v pgbackrest >/dev/null || need+=(pgbackrest)
[[ -x /usr/bin/time ]] || need+=(time)
command -v zstd >/dev/null || need+=(zstd)
command -v sqlite3 >/dev/null || need+=(sqlite3)
if (( ${#need[@]} > 0 )); then
    log "installing ${need[*]} with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
[[ -x $PG_BIN/initdb && -x $PG_BIN/pg_basebackup && -x $PG_BIN/pgbench ]] || die "PostgreSQL 15 binaries not found in PG_BIN=$PG_BIN"
[[ -f /usr/share/postgresql/15/extension/pgcrypto.control ]] || die "pgcrypto (postgresql-contrib) is needed for the mixed dataset"
command -v dotnet >/dev/null || [[ $SKIP_BUILD == 1 ]] || die "the .NET SDK is needed to build pgvault"
PSQL=$PG_BIN/psql

as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; }

free_port() {
    local p
    for _ in $(seq 1 100); do
        p=$((20000 + RANDOM % 30000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
    done
    return 1
}
now_us() { echo "${EPOCHREALTIME/./}"; }
CLK_TCK=$(getconf CLK_TCK)
NCPU=$(nproc)
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit }' /proc/stat; }
# CPU ticks of the postmaster and everything it runs: its own, its live children's, and those of its exited children
# (cutime/cstime), so a walsender that ends during a measurement still counts.
pg_ticks() {
    local pm
    pm=$(head -1 "$PGDATA/postmaster.pid")
    { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v pm="$pm" '
        { pid = $1; sub(/^.*\) /, ""); if (pid == pm) s += $12 + $13 + $14 + $15; else if ($2 == pm) s += $12 + $13 }
        END { print s + 0 }'
}

# Waits up to QUIET_WAIT seconds for the CPUs to be idle (< 15 % of one core busy over a second); the machine is shared.
wait_quiet() {
    local deadline=$((SECONDS + QUIET_WAIT)) a b busy
    while :; do
        a=$(machine_ticks); sleep 1; b=$(machine_ticks)
        busy=$(awk -v a="$a" -v b="$b" -v n="$NCPU" 'BEGIN { split(a, x, " "); split(b, y, " ");
            print ((y[2] - x[2]) > 0 ? int(100 * n * (y[1] - x[1]) / (y[2] - x[2])) : 0) }')
        (( busy < 15 )) && return 0
        if (( SECONDS >= deadline )); then
            log "  other processes keep ${busy}% of one core busy; measuring anyway (see the 'other' column)"
            return 0
        fi
    done
}

# ----------------------------------------------------------------------------------------------------- cleanup (trap)
WORK=""
PGDATA=""
PGPORT=""
SERVE_PID=""
BENCH_PID=""
SAMPLER_PID=""
PSQL_PID=""
SQLITE_PID=""
stop_pid() { if [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; then kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; fi; }
cleanup() {
    set +e
    stop_pid "$SAMPLER_PID"
    stop_pid "$PSQL_PID"
    stop_pid "$SQLITE_PID"
    stop_pid "$BENCH_PID"
    stop_pid "$SERVE_PID"
    if [[ -n $PGDATA && -f $PGDATA/postmaster.pid ]]; then
        as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null 2>&1
    fi
    if [[ -n $WORK ]]; then
        if [[ $KEEP == 1 ]]; then log "kept $WORK (KEEP=1)"; else rm -rf "$WORK"; fi
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------------------------- build
mkdir -p "$OUT"
if (( REPORT_ONLY )); then
    :
elif [[ $SKIP_BUILD == 1 && -x $PGVAULT ]]; then
    log "reusing $PGVAULT (SKIP_BUILD=1)"
else
    src_root=$ROOT
    if [[ -n $REV ]]; then
        sha=$(git -C "$ROOT" rev-parse --verify "$REV^{commit}") || die "REV=$REV is not a commit"
        src_root=$OUT/src/$sha
        if [[ ! -d $src_root ]]; then
            mkdir -p "$src_root"
            git -C "$ROOT" archive --format=tar "$sha" | tar -x -C "$src_root"
        fi
        built_rev=$(git -C "$ROOT" rev-parse --short "$sha")
    else
        built_rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
        [[ -z $(git -C "$ROOT" status --porcelain -- src 2>/dev/null) ]] || built_rev="$built_rev + uncommitted changes in src/"
    fi
    log "building pgvault $built_rev (Release) into $OUT/pgvault"
    rm -rf "$OUT/pgvault" "$OUT/pgvault.rev"
    (cd "$src_root" && dotnet publish src/PgVault/PgVault.csproj -c Release -o "$OUT/pgvault" \
        --artifacts-path "$OUT/artifacts" -nologo -v q) >"$OUT/build.log" 2>&1 \
        || { cat "$OUT/build.log" >&2; die "dotnet publish failed (log: $OUT/build.log)"; }
    echo "$built_rev" >"$OUT/pgvault.rev"
fi

# ------------------------------------------------------------------------------------------------------ the cluster
pg() { PGOPTIONS='-c client_min_messages=warning' "$PSQL" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U postgres -d bench "$@"; }
pgq() { pg -At -c "$1"; }
if (( ! REPORT_ONLY )); then
rm -rf "$RUNDIR"
mkdir -p "$RUNDIR"
cat >"$RUNDIR/settings.sh" <<SETTINGS
QUICK=$QUICK DATASETS="$DATASETS" MIXED_SCALE=$MIXED_SCALE RPO=$RPO RPO_FLUSH_INTERVAL=$RPO_FLUSH_INTERVAL RPO_CLIENTS=$RPO_CLIENTS RPO_SECONDS=$RPO_SECONDS
LEVEL=$LEVEL CHECKSUMS=$CHECKSUMS REPS=$REPS
SETTINGS
WORK=$(mktemp -d /tmp/pgvault-bench-backup.XXXXXX)
chown postgres: "$WORK"
chmod 755 "$WORK"
PGDATA=$WORK/data
PGPORT=$(free_port) || die "no free port"
log "PostgreSQL 15 cluster in $PGDATA, port $PGPORT"
checksum_flag=()
[[ $CHECKSUMS == 1 ]] && checksum_flag=(--data-checksums)
as_pg "$PG_BIN/initdb" -D "$PGDATA" -U postgres -A trust -E UTF8 --locale=C "${checksum_flag[@]}" >"$RUNDIR/initdb.log" 2>&1 \
    || { cat "$RUNDIR/initdb.log" >&2; die "initdb failed"; }
# autovacuum is off so that the files stay the same from one tool to the next (the datasets are vacuumed and frozen
# once). archive_mode is on from the start (changing it needs a restart); archive_command is /bin/true (WAL thrown away)
# except while pgBackRest runs, which needs its archive-push (see run_pgbackrest).
as_pg tee -a "$PGDATA/postgresql.conf" >/dev/null <<CONF
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = '$WORK'
shared_buffers = 512MB
max_wal_size = 8GB
checkpoint_timeout = 30min
archive_mode = on
archive_command = '/bin/true'
log_checkpoints = off
autovacuum = off
CONF
as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$WORK/server.log" -w -t 60 start >/dev/null \
    || { cat "$WORK/server.log" >&2; die "PostgreSQL did not start"; }
"$PSQL" -X -q -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -c "CREATE DATABASE bench" >/dev/null
fi

set_archive_command() { # COMMAND
    pgq "ALTER SYSTEM SET archive_command = '$1'" >/dev/null
    pgq "SELECT pg_reload_conf()" >/dev/null
    sleep 1
}

# ----------------------------------------------------------------------------------------------------- the datasets
make_dataset() { # NAME
    local t0=$SECONDS
    case $1 in
        pgbench)
            log "dataset pgbench: pgbench -i -s $SCALE"
            "$PG_BIN/pgbench" -i -q -s "$SCALE" -h 127.0.0.1 -p "$PGPORT" -U postgres bench >"$RUNDIR/pgbench-init-$1.log" 2>&1 \
                || { cat "$RUNDIR/pgbench-init-$1.log" >&2; die "pgbench -i failed"; }
            pgq "DROP TABLE IF EXISTS blob" >/dev/null
            ;;
        mixed)
            # 2,000-byte random values: 4 rows to a heap page (below the 2,032-byte TOAST threshold), ~98 % random bytes.
            local rows=$((RANDOM_MB * 1000000 / 8192 * 4))
            log "dataset mixed: pgbench -i -s $MIXED_SCALE and $RANDOM_MB MB of random bytes ($rows rows of 2,000 bytes)"
            "$PG_BIN/pgbench" -i -q -s "$MIXED_SCALE" -h 127.0.0.1 -p "$PGPORT" -U postgres bench >"$RUNDIR/pgbench-init-$1.log" 2>&1 \
                || { cat "$RUNDIR/pgbench-init-$1.log" >&2; die "pgbench -i failed"; }
            pg >/dev/null <<SQL
CREATE EXTENSION IF NOT EXISTS pgcrypto;
DROP TABLE IF EXISTS blob;
CREATE TABLE blob (id integer NOT NULL, data bytea NOT NULL);
INSERT INTO blob SELECT g, gen_random_bytes(1000) || gen_random_bytes(1000) FROM generate_series(1, $rows) g;
SQL
            ;;
    esac
    # Frozen and checkpointed: every tool then reads the same, stable files (no hint bits or freezing left to write).
    pgq "VACUUM (FREEZE, ANALYZE)" >/dev/null
    pgq "CHECKPOINT" >/dev/null
    DB_BYTES=$(( $(du -sb "$PGDATA" | cut -f1) - $(du -sb "$PGDATA/pg_wal" | cut -f1) ))
    # Compressibility of the data directory with zstd -3 (this also reads the files once, so every tool finds them in
    # the page cache).
    local z
    z=$({ tar -cf - --warning=no-file-changed --warning=no-file-removed --exclude=./pg_wal -C "$PGDATA" . || true; } \
        | zstd -3 -T"$WORKERS" -q -c | wc -c)
    DS_RATIO=$(awk -v r="$DB_BYTES" -v z="$z" 'BEGIN { printf "%.2f", r / z }')
    DS_COMPRESSIBLE=$(awk -v r="$DB_BYTES" -v z="$z" 'BEGIN { printf "%.0f", 100 * (1 - z / r) }')
    echo "$1 $DB_BYTES $z $DS_RATIO $DS_COMPRESSIBLE $((SECONDS - t0))" >>"$RUNDIR/datasets.tsv"
    log "dataset $1: $(awk -v b="$DB_BYTES" 'BEGIN { printf "%.0f", b / 1e6 }') MB without pg_wal; zstd -3 ratio $DS_RATIO ($DS_COMPRESSIBLE % compressible); made in $((SECONDS - t0)) s"
}

# ------------------------------------------------------------------------------------------------ one measured run
# Samples every 0.2 s, for the process tree under PID, each process's VmRSS and VmHWM (peak RSS, kernel-kept):
# lines "t_us pid name hwm_kB rss_kB".
# Also appends "pid cpu_ticks" of each process of the tree to FILE.cpu (its utime + stime so far).
rss_sampler() { # PID FILE
    local root=$1 file=$2 pids
    while kill -0 "$root" 2>/dev/null; do
        pids=$({ cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v root="$root" -v cpufile="$file.cpu" '
            { pid = $1; s = $0; sub(/^.*\) /, "", s); split(s, f, " "); pp[pid] = f[2]; tk[pid] = f[12] + f[13] }
            END { d[root] = 1; do { ch = 0; for (p in pp) if (!(p in d) && (pp[p] in d)) { d[p] = 1; ch = 1 } } while (ch)
                  for (p in d) if (p != root) { printf "/proc/%s/status ", p; print p, tk[p] >> cpufile } }')
        if [[ -n $pids ]]; then
            # shellcheck disable=SC2086
            { cat $pids 2>/dev/null || true; } | awk -v t="$(now_us)" '
                /^Name:/ { n = $2 } /^Pid:/ { pid = $2 } /^VmHWM:/ { h = $2 } /^VmRSS:/ { print t, pid, n, h, $2 }' >>"$file"
        fi
        sleep 0.2
    done
}

# Runs a command under /usr/bin/time -v with the RSS sampler, timing wall seconds, the tool's CPU (time -v: the process
# and the children it waited for), PostgreSQL's CPU and the rest of the machine's. Appends to $RUNDIR/results.tsv:
# dataset tool rep status wall_s tool_cpu_s pg_cpu_s other_pct load1 time_maxrss_kB tree_peak_kB top_hwm_kB top_name
measure() { # DATASET TOOL COMMAND...   (the repetition is $REP)
    local ds=$1 tool=$2 dir=$RUNDIR/$1/$2/$REP
    shift 2
    mkdir -p "$dir"
    pgq "CHECKPOINT" >/dev/null
    wait_quiet
    local load t0 t1 m0 m1 p0 p1 status=ok
    load=$(cut -d' ' -f1 /proc/loadavg)
    uptime >"$dir/uptime.txt"
    log "$ds / $tool (run $REP of $REPS): $* (load $load)"
    m0=$(machine_ticks); p0=$(pg_ticks); t0=$(now_us)
    /usr/bin/time -v -o "$dir/time.txt" "$@" >"$dir/stdout.txt" 2>"$dir/stderr.txt" &
    local tpid=$!
    : >"$dir/rss.txt"
    : >"$dir/rss.txt.cpu"
    rss_sampler "$tpid" "$dir/rss.txt" &
    SAMPLER_PID=$!
    wait "$tpid" || status="FAILED(exit $?)"
    t1=$(now_us); m1=$(machine_ticks); p1=$(pg_ticks)
    wait "$SAMPLER_PID" 2>/dev/null || true
    SAMPLER_PID=""
    [[ $status == ok ]] || { log "  $tool failed: $(tail -3 "$dir/stderr.txt" | tr '\n' ' ')"; }
    local cpu maxrss
    cpu=$(awk -F': ' '/User time/ { u = $2 } /System time/ { s = $2 } END { print u + s }' "$dir/time.txt")
    maxrss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$dir/time.txt")
    # Peak of the tree = the largest sum of VmRSS over one sample; the largest VmHWM of any one process (exact).
    local tree top
    tree=$(awk '{ s[$1] += $5 } END { m = 0; for (t in s) if (s[t] > m) m = s[t]; print m }' "$dir/rss.txt")
    top=$(awk '{ if ($4 >= h[$2]) { h[$2] = $4; n[$2] = $3 } } END { m = 0; for (p in h) if (h[p] > m) { m = h[p]; best = n[p] } print m, (best == "" ? "-" : best) }' "$dir/rss.txt")
    awk -v ds="$ds" -v tool="$tool" -v rep="$REP" -v st="${status// /_}" -v t0="$t0" -v t1="$t1" -v cpu="$cpu" -v p="$((p1 - p0))" -v hz="$CLK_TCK" \
        -v m0="$m0" -v m1="$m1" -v n="$NCPU" -v load="$load" -v maxrss="$maxrss" -v tree="$tree" -v top="$top" 'BEGIN {
        wall = (t1 - t0) / 1e6; split(m0, a, " "); split(m1, b, " ")
        busy = (b[2] - a[2]) > 0 ? n * (b[1] - a[1]) / (b[2] - a[2]) * wall : 0
        pgcpu = p / hz; other = 100 * (busy - cpu - pgcpu) / wall; if (other < 0) other = 0
        split(top, tp, " ")
        printf "%s %s %s %s %.3f %.2f %.2f %.0f %s %d %d %d %s\n", ds, tool, rep, st, wall, cpu, pgcpu, other, load, maxrss, tree, tp[1], tp[2] }' \
        >>"$RUNDIR/results.tsv"
    tail -1 "$RUNDIR/results.tsv" | awk '{ printf "  %s: %.1f s wall, tool CPU %.1f s, postgres CPU %.1f s, other %d%%, peak RSS tree %.0f MB\n", $4, $5, $6, $7, $8, $11 / 1024 }' >&2
    [[ $status == ok ]]
}
size_of() { if [[ -e $1 ]]; then du -sb "$1" | cut -f1; else echo 0; fi; }
sizes() { echo "$1 $2 $REP $3 $4" >>"$RUNDIR/sizes.tsv"; } # DATASET TOOL BASE_BYTES WAL_BYTES

# ------------------------------------------------------------------------------------------------------------ tools
run_tar() { # DATASET
    measure "$1" tar bash -c "tar -cf - --warning=no-file-changed --warning=no-file-removed --exclude=./pg_wal -C '$PGDATA' . | wc -c" || true
    sizes "$1" tar 0 0
}

run_pg_basebackup() {
    local dest=$WORK/pg_basebackup-$1
    rm -rf "$dest"
    measure "$1" pg_basebackup "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$PGPORT" -U postgres -D "$dest" -Ft \
        --compress="server-zstd:level=$LEVEL,workers=$WORKERS" --checkpoint=fast || true
    # Base backup bytes: base.tar.zst and backup_manifest; the WAL streamed alongside (-X stream) is pg_wal.tar.
    local wal base
    base=$(find "$dest" -maxdepth 1 -type f ! -name 'pg_wal.tar*' -printf '%s\n' 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
    wal=$(find "$dest" -maxdepth 1 -type f -name 'pg_wal.tar*' -printf '%s\n' 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
    ls -l "$dest" >"$RUNDIR/$1/pg_basebackup/$REP/files.txt" 2>&1 || true
    sizes "$1" pg_basebackup "$base" "$wal"
    rm -rf "$dest"
}

run_pgvault() {
    local dd=$WORK/pgvault-$1
    rm -rf "$dd"
    measure "$1" pgvault "$PGVAULT" backup --cluster "$CLUSTER_ID" \
        "--PgVault:DataDirectory=$dd" "--PgVault:Clusters:0:Id=$CLUSTER_ID" \
        "--PgVault:Clusters:0:ConnectionString=Host=127.0.0.1;Port=$PGPORT;Username=postgres" \
        "--PgVault:Engine:CompressionLevel=$LEVEL" "--PgVault:Engine:CompressionWorkers=$WORKERS" \
        "--PgVault:Engine:PostgresBinDirectory=$PG_BIN" || true
    # The base backup is the chain's base/ folder; its WAL is the chain's wal/ folder.
    local base wal
    base=$(find "$dd/repository" -type d -path '*/chains/*/base' -exec du -sb {} + 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
    wal=$(find "$dd/repository" -type d -path '*/chains/*/wal' -exec du -sb {} + 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
    (cd "$dd/repository" 2>/dev/null && find . -type f -printf '%s %p\n' | sort -k2) >"$RUNDIR/$1/pgvault/$REP/files.txt" 2>&1 || true
    sizes "$1" pgvault "$base" "$wal"
    # pgvault's own peak and its pg_basebackup child's, from their VmHWM, and the CPU seconds of each (last sample).
    local d=$RUNDIR/$1/pgvault/$REP
    awk -v hz="$CLK_TCK" 'FNR == NR { name[$2] = $3; next } { if ($2 > tk[$1]) tk[$1] = $2 }
        END { for (p in tk) c[name[p]] += tk[p]; printf "%.1f %.1f\n", c["pgvault"] / hz, c["pg_basebackup"] / hz }' \
        "$d/rss.txt" "$d/rss.txt.cpu" >"$d/cpu-split.txt"
    awk '$3 == "pgvault" && $4 > a { a = $4 } $3 == "pg_basebackup" && $4 > b { b = $4 } END { print a + 0, b + 0 }' \
        "$d/rss.txt" >"$d/hwm.txt"
    # Its replication slot would keep WAL from now on: drop it.
    pgq "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$SLOT'" >/dev/null || true
    rm -rf "$dd"
}

run_pgbackrest() { # DATASET CODEC
    local codec=$2 tool=pgbackrest-$2 level=$LEVEL
    [[ $codec == lz4 ]] && level=1
    local conf=$WORK/pgbackrest-$codec.conf repo=$WORK/pgbackrest-$codec-repo
    rm -rf "$repo" "$WORK/pgbackrest-lock"
    mkdir -p "$repo" "$WORK/pgbackrest-lock"
    chown postgres: "$repo" "$WORK/pgbackrest-lock"
    cat >"$conf" <<CONF
[global]
repo1-path=$repo
repo1-retention-full=1
compress-type=$codec
compress-level=$level
process-max=$WORKERS
start-fast=y
lock-path=$WORK/pgbackrest-lock
log-level-console=info
log-level-file=off

[bench]
pg1-path=$PGDATA
pg1-port=$PGPORT
pg1-socket-path=$WORK
pg1-user=postgres
CONF
    chmod 644 "$conf"
    local d=$RUNDIR/$1/$tool/$REP
    mkdir -p "$d"
    # pgBackRest needs WAL archiving into its repository: archive-push as archive_command (reloaded, archive_mode is
    # on), the stanza created, and `check` passing (it switches WAL and waits for the segment in the archive).
    as_pg pgbackrest --config="$conf" --stanza=bench stanza-create >"$d/stanza-create.txt" 2>&1 \
        || { cat "$d/stanza-create.txt" >&2; die "pgbackrest stanza-create failed"; }
    set_archive_command "pgbackrest --config=$conf --stanza=bench archive-push %p"
    as_pg pgbackrest --config="$conf" --stanza=bench check >"$d/check.txt" 2>&1 \
        || { cat "$d/check.txt" >&2; die "pgbackrest check failed"; }
    measure "$1" "$tool" setpriv --reuid=postgres --regid=postgres --init-groups -- \
        pgbackrest --config="$conf" --stanza=bench backup --type=full || true
    set_archive_command /bin/true
    local base wal
    base=$(find "$repo/backup/bench" -mindepth 1 -maxdepth 1 -type d -name '*F' -exec du -sb {} + 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
    wal=$(size_of "$repo/archive")
    (cd "$repo" && find . -type f -printf '%s %p\n' | sort -k2) >"$d/files.txt" 2>&1 || true
    as_pg pgbackrest --config="$conf" --stanza=bench info >"$d/info.txt" 2>&1 || true
    sizes "$1" "$tool" "$base" "$wal"
    rm -rf "$repo"
}

# ------------------------------------------------------------------------------------------------------------- RPO
# `pgvault serve` backs the cluster up continuously; once its first base backup is complete, pgbench writes for
# RPO_SECONDS + 10 s and every 100 ms we read the primary's flush LSN and the active backup's end_lsn in the catalog
# (persistent psql and sqlite3 sessions, so a sample costs two round trips, not two process starts).
run_rpo() {
    local dd=$WORK/pgvault-serve dir=$RUNDIR/rpo port
    mkdir -p "$dir"
    rm -rf "$dd"
    port=$(free_port) || die "no free port"
    log "RPO: pgvault serve on 127.0.0.1:$port, waiting for its first base backup"
    "$PGVAULT" serve --urls "http://127.0.0.1:$port" \
        "--PgVault:DataDirectory=$dd" "--PgVault:Clusters:0:Id=$CLUSTER_ID" \
        "--PgVault:Clusters:0:ConnectionString=Host=127.0.0.1;Port=$PGPORT;Username=postgres" \
        "--PgVault:Engine:CompressionLevel=$LEVEL" "--PgVault:Engine:CompressionWorkers=$WORKERS" \
        "--PgVault:Engine:PostgresBinDirectory=$PG_BIN" "--PgVault:RateLimit:PermitsPerSecond=0" \
        ${RPO_FLUSH_INTERVAL:+"--PgVault:Engine:WalFlushInterval=$RPO_FLUSH_INTERVAL"} >"$dir/serve.log" 2>&1 &
    SERVE_PID=$!
    local db=$dd/catalog.db deadline=$((SECONDS + 1200)) n=0
    while :; do
        kill -0 "$SERVE_PID" 2>/dev/null || { tail -20 "$dir/serve.log" >&2; die "pgvault serve exited"; }
        if [[ -f $db ]]; then
            n=$(sqlite3 -cmd '.timeout 2000' "$db" "SELECT count(*) FROM base_backups WHERE state = 'COMPLETE'" 2>/dev/null || echo 0)
            (( n > 0 )) && [[ $(sqlite3 -cmd '.timeout 2000' "$db" "SELECT state FROM backups WHERE is_active = 1" 2>/dev/null) == AVAILABLE ]] && break
        fi
        (( SECONDS < deadline )) || die "no complete base backup after 20 minutes (log: $dir/serve.log)"
        sleep 1
    done
    log "RPO: base backup complete; pgbench -c $RPO_CLIENTS -j 2 -T $((RPO_SECONDS + 10)), sampling every 100 ms for $RPO_SECONDS s"
    sleep 2
    wait_quiet
    uptime >"$dir/uptime.txt"
    RPO_LOAD=$(cut -d' ' -f1 /proc/loadavg)
    "$PG_BIN/pgbench" -n -c "$RPO_CLIENTS" -j 2 -T "$((RPO_SECONDS + 10))" -P 10 -h 127.0.0.1 -p "$PGPORT" -U postgres bench \
        >"$dir/pgbench.txt" 2>&1 &
    BENCH_PID=$!
    sleep 5
    rm -f "$dir"/psql.in "$dir"/psql.out "$dir"/sqlite.in "$dir"/sqlite.out
    mkfifo "$dir/psql.in" "$dir/psql.out" "$dir/sqlite.in" "$dir/sqlite.out"
    stdbuf -oL "$PSQL" -X -At -h 127.0.0.1 -p "$PGPORT" -U postgres -d bench <"$dir/psql.in" >"$dir/psql.out" 2>&1 &
    PSQL_PID=$!
    stdbuf -oL sqlite3 -cmd '.timeout 2000' "$db" <"$dir/sqlite.in" >"$dir/sqlite.out" 2>&1 &
    SQLITE_PID=$!
    local pin pout sin sout
    exec {pin}>"$dir/psql.in" {pout}<"$dir/psql.out" {sin}>"$dir/sqlite.in" {sout}<"$dir/sqlite.out"
    local t_start t_end t_stop t_p t_r p r next i=0 m0 m1
    t_start=$(now_us)
    t_end=$((t_start + RPO_SECONDS * 1000000))
    t_stop=$((t_end + 10000000))                 # 10 s more of samples so that the last ones can be resolved
    m0=$(machine_ticks); m1=$m0
    : >"$dir/samples.tsv"
    while :; do
        next=$((t_start + i * 100000))
        local d=$((next - $(now_us)))
        (( d > 0 )) && read -rt "$(printf '%d.%06d' $((d / 1000000)) $((d % 1000000)))" <> <(:) || true
        t_p=$(now_us)
        (( t_p >= t_stop )) && break
        echo "SELECT pg_current_wal_flush_lsn() - '0/0'::pg_lsn;" >&"$pin"
        read -rt 5 p <&"$pout" || die "no answer from psql"
        echo "SELECT end_lsn FROM backups WHERE is_active = 1;" >&"$sin"
        read -rt 5 r <&"$sout" || die "no answer from sqlite3"
        [[ $p =~ ^[0-9]+$ && $r =~ ^[0-9]+$ ]] || die "unexpected sample: primary '$p', repository '$r'"
        t_r=$(now_us)
        echo "$t_p $t_r $p $r $(( t_p < t_end ? 1 : 0 ))" >>"$dir/samples.tsv"
        (( t_p < t_end )) && m1=$(machine_ticks)
        i=$((i + 1))
    done
    exec {pin}>&- {pout}<&- {sin}>&- {sout}<&-
    wait "$PSQL_PID" "$SQLITE_PID" 2>/dev/null || true
    PSQL_PID=""; SQLITE_PID=""
    rm -f "$dir"/psql.in "$dir"/psql.out "$dir"/sqlite.in "$dir"/sqlite.out
    wait "$BENCH_PID" 2>/dev/null || true
    BENCH_PID=""
    RPO_BUSY=$(awk -v a="$m0" -v b="$m1" -v n="$NCPU" 'BEGIN { split(a, x, " "); split(b, y, " ");
        printf "%.0f", ((y[2] - x[2]) > 0 ? 100 * n * (y[1] - x[1]) / (y[2] - x[2]) : 0) }')
    echo "RPO_LOAD=$RPO_LOAD RPO_BUSY=$RPO_BUSY" >"$dir/meta.sh"
    stop_pid "$SERVE_PID"
    SERVE_PID=""
    pgq "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$SLOT'" >/dev/null || true
    grep -E '^(tps|number of transactions actually processed|latency average)' "$dir/pgbench.txt" >"$dir/pgbench-summary.txt" || true
    rm -rf "$dd"
}

# Percentiles (nearest rank) of the RPO: per sample in the window, bytes = primary flush LSN - repository end, and
# seconds = from the primary read until the first repository read that reached that LSN (resolution: the 100 ms period,
# rounded up; a sample never reached within the 10 s after the window is counted as "unresolved").
rpo_report() {
    local f=$RUNDIR/rpo/samples.tsv
    awk '
        { tp[NR] = $1; tr[NR] = $2; p[NR] = $3; r[NR] = $4; w[NR] = $5 }
        END {
            for (i = 1; i <= NR; i++) {
                if (!w[i]) continue
                b = p[i] - r[i]; if (b < 0) b = 0
                s = "unresolved"
                for (j = i; j <= NR; j++) if (r[j] >= p[i]) { s = (tr[j] - tp[i]) / 1e6; break }
                print b, s
            }
        }' "$f" >"$RUNDIR/rpo/lag.tsv"
    local n
    n=$(wc -l <"$RUNDIR/rpo/lag.tsv")
    (( n > 0 )) || { echo "samples 0"; return 0; }
    awk '$5 { if (!n++) { p0 = $3; t0 = $1 } p1 = $3; t1 = $1 }
         END { printf "samples %d over %.1f s\nwal %.2f MB/s\n", n, (t1 - t0) / 1e6, (p1 - p0) / 1e6 / ((t1 - t0) / 1e6) }' "$f"
    pcts() { sort -g | awk '{ a[NR] = $1 } END { k = int(0.5 * NR + 0.999999); m = int(0.99 * NR + 0.999999); if (k < 1) k = 1; if (m < 1) m = 1
                                               print a[k], a[m], a[NR] }'; }
    echo "bytes $(cut -d' ' -f1 "$RUNDIR/rpo/lag.tsv" | pcts)"
    # Unresolved samples (never reached within the 10 s after the window) sort last, as "more than 10 s".
    echo "seconds $(cut -d' ' -f2 "$RUNDIR/rpo/lag.tsv" | sed 's/unresolved/1e9/' | pcts) $(grep -c unresolved "$RUNDIR/rpo/lag.tsv" || true)"
}

# ------------------------------------------------------------------------------------------------------------- main
if (( ! REPORT_ONLY )); then
: >"$RUNDIR/results.tsv"
: >"$RUNDIR/sizes.tsv"
: >"$RUNDIR/datasets.tsv"
for ds in $DATASETS; do
    make_dataset "$ds"
    # Round robin: each repetition runs every tool once, so slow drifts of the machine's other load hit all tools alike.
    for ((REP = 1; REP <= REPS; REP++)); do
        for tool in $TOOLS; do
            case $tool in
                tar) run_tar "$ds" ;;
                pg_basebackup) run_pg_basebackup "$ds" ;;
                pgvault) run_pgvault "$ds" ;;
                pgbackrest-zst) run_pgbackrest "$ds" zst ;;
                pgbackrest-lz4) run_pgbackrest "$ds" lz4 ;;
                none) ;;
                *) die "unknown tool $tool" ;;
            esac
        done
    done
done
[[ $RPO == 1 ]] && run_rpo
echo "$(($(date +%s) - STARTED))" >"$RUNDIR/total-seconds.txt"
fi

# ----------------------------------------------------------------------------------------------------------- report
# One line per dataset and tool over its repetitions: medians of wall, CPU, other load and sizes; maxima of the RSS.
# "ds tool status runs wall_med wall_min wall_max cpu pgcpu other load maxrss_kB tree_kB base_B wal_B"
summarize() {
    awk '
        function med(str,   n, a, i, j, x) { n = split(str, a, " "); for (i = 2; i <= n; i++) { x = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
                                             return n == 0 ? 0 : (n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2) }
        FNR == NR { k = $1 " " $2; base[k] = base[k] " " $4; wal[k] = wal[k] " " $5; next }
        { k = $1 " " $2
          if (!(k in runs)) order[++nk] = k
          runs[k]++
          if ($4 == "ok") { ok[k]++; wall[k] = wall[k] " " $5; cpu[k] = cpu[k] " " $6; pgc[k] = pgc[k] " " $7
                            if (!(k in wmin) || $5 < wmin[k]) wmin[k] = $5; if ($5 > wmax[k]) wmax[k] = $5 }
          else bad[k] = bad[k] " run" $3 ":" $4
          oth[k] = oth[k] " " $8; ld[k] = ld[k] " " $9
          if ($10 > mrss[k]) mrss[k] = $10; if ($11 > tree[k]) tree[k] = $11 }
        END { for (i = 1; i <= nk; i++) { k = order[i]
                st = (ok[k] == runs[k]) ? "ok" : (ok[k] > 0 ? "partly-failed" : "FAILED") substr(bad[k], 1)
                gsub(/ /, "", st)
                printf "%s %s %d %.3f %.3f %.3f %.2f %.2f %.0f %.2f %d %d %.0f %.0f\n", k, st, runs[k], med(wall[k]), wmin[k], wmax[k],
                    med(cpu[k]), med(pgc[k]), med(oth[k]), med(ld[k]), mrss[k], tree[k], med(base[k]), med(wal[k]) } }
    ' "$RUNDIR/sizes.tsv" "$RUNDIR/results.tsv" >"$RUNDIR/summary.tsv"
}

PGBR_VERSION=$(pgbackrest version 2>/dev/null | awk '{ print $2 }')
report() {
    echo "== PgVault backup benchmark (bench/backup/run.sh$( ((QUICK)) && echo ' --quick')) =="
    echo "date:     $(date -u -r "$RUNDIR/results.tsv" +%Y-%m-%dT%H:%M:%SZ) (end of the measurements)"
    echo "machine:  $NCPU CPUs (nproc), $(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)," \
         "$(awk '/MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r), $(df -T /tmp | awk 'NR == 2 { print $2 }') on /tmp"
    echo "software: pgvault $(cat "$OUT/pgvault.rev" 2>/dev/null || echo '?') (Release, .NET $(dotnet --list-runtimes 2>/dev/null | awk '/Microsoft.NETCore.App/ { v = $2 } END { print v }'))," \
         "pgBackRest $PGBR_VERSION, $("$PG_BIN/postgres" --version | sed 's/ (Debian.*//'), zstd $(zstd -V | grep -o 'v[0-9.]*')"
    echo "settings: zstd level $LEVEL everywhere (pgBackRest compress-level=$LEVEL, server-zstd:level=$LEVEL, PgVault Engine:CompressionLevel=$LEVEL);"
    echo "          lz4 at pgBackRest's default level 1; $WORKERS workers/processes for every tool; data checksums $([[ $CHECKSUMS == 1 ]] && echo on || echo off);"
    echo "          every tool reads from the page cache (files frozen, checkpointed, read once before the runs);"
    echo "          $REPS run(s) of every tool per dataset, round robin: medians (wall: median and min-max), RSS: the largest of the runs"
    echo "targets:  PgVault >= ${TARGET_SPEED}x pgBackRest's MB/s and repository <= ${TARGET_SIZE}x pgBackRest's (zst); peak RSS <= $TARGET_RSS_MB MB; RPO p99 <= ${TARGET_RPO_S} s"
    local ds
    for ds in $DATASETS; do
        echo
        awk -v ds="$ds" '$1 == ds { printf "-- dataset %s: %.0f MB (data directory without pg_wal), zstd -3: %.0f MB, ratio %.2f (%d %% compressible); made in %d s --\n", ds, $2 / 1e6, $3 / 1e6, $4, $5, $6 }' "$RUNDIR/datasets.tsv"
        awk -v ds="$ds" -v dbb="$(awk -v ds="$ds" '$1 == ds { print $2 }' "$RUNDIR/datasets.tsv")" '
            $1 == ds { n++; tool[n] = $2; st[$2] = $3; wall[$2] = $5; wmin[$2] = $6; wmax[$2] = $7; cpu[$2] = $8; pgc[$2] = $9
                       other[$2] = $10; load[$2] = $11; maxrss[$2] = $12 / 1024; tree[$2] = $13 / 1024; base[$2] = $14; wal[$2] = $15
                       mbs[$2] = $5 > 0 ? dbb / 1e6 / $5 : 0 }
            function ratio(a, b) { return b > 0 ? sprintf("%.2f", a / b) : "-" }
            END {
                printf "%-15s %7s %13s %8s %13s %11s %8s %8s %6s %8s %6s %5s  %s\n", "tool", "wall s", "(min-max)", "MB/s", "repo B (base)", "WAL B",
                    "RSS tree", "RSS max1", "CPU s", "pg CPU s", "other", "load", "PgVault ratio: speed / size / RSS"
                for (i = 1; i <= n; i++) {
                    t = tool[i]
                    r = ""
                    if (t != "pgvault" && mbs["pgvault"] > 0 && mbs[t] > 0)
                        r = ratio(mbs["pgvault"], mbs[t]) " / " (base[t] > 0 ? ratio(base["pgvault"], base[t]) : "-") " / " ratio(tree["pgvault"], tree[t])
                    b = base[t] > 0 ? base[t] : "-"; wb = wal[t] > 0 ? wal[t] : "-"; f = st[t] == "ok" ? "" : "  " st[t]
                    mm = sprintf("(%.1f-%.1f)", wmin[t], wmax[t])
                    printf "%-15s %7.1f %13s %8.1f %13s %11s %5.0f MB %5.0f MB %6.1f %8.1f %5d%% %5.2f  %s%s\n", t, wall[t], mm, mbs[t],
                        b, wb, tree[t], maxrss[t], cpu[t], pgc[t], other[t], load[t], r, f
                }
            }' "$RUNDIR/summary.tsv"
        if compgen -G "$RUNDIR/$ds/pgvault/*/hwm.txt" >/dev/null; then
            cat "$RUNDIR/$ds"/pgvault/*/hwm.txt | awk '$1 > a { a = $1 } $2 > b { b = $2 } END {
                printf "pgvault peak RSS by process (VmHWM, largest of the runs): pgvault %.0f MB, its pg_basebackup child %.0f MB\n", a / 1024, b / 1024 }'
            cat "$RUNDIR/$ds"/pgvault/*/cpu-split.txt 2>/dev/null | awk '{ a = a " " $1; b = b " " $2; n++ } END {
                if (n) printf "pgvault CPU by process (per run): pgvault%s s; pg_basebackup%s s\n", a, b }'
        fi
    done
    echo
    echo "columns: wall s = median wall seconds of the whole command (min-max over the runs); MB/s = database bytes (above) /"
    echo "  median wall seconds; repo B (base) = bytes of the base backup in its repository without WAL (pgvault: the chain's"
    echo "  base/ folder; pgBackRest: the backup set's folder; pg_basebackup: base.tar.zst + backup_manifest); WAL B = WAL stored"
    echo "  beside it (pgvault: wal/; pgBackRest: archive/; pg_basebackup: pg_wal.tar of -X stream); RSS tree = the largest sum"
    echo "  of VmRSS over the tool's process tree in one 0.2 s sample; RSS max1 = /usr/bin/time -v's maximum resident set size:"
    echo "  the largest single process among the tool and the children it waited for (not a sum); CPU s = user+sys of the tool"
    echo "  and its waited-for children (time -v); pg CPU s = the PostgreSQL server's (pg_basebackup's server-side zstd runs"
    echo "  there); other = CPU of everything else on the machine during the run, % of one core; load = 1-min load average before"
    if [[ $RPO == 1 && -f $RUNDIR/rpo/samples.tsv ]]; then
        echo
        local rep RPO_LOAD=? RPO_BUSY=?
        # shellcheck disable=SC1091
        [[ -f $RUNDIR/rpo/meta.sh ]] && source "$RUNDIR/rpo/meta.sh"
        rep=$(rpo_report)
        echo "-- RPO: pgvault serve, pgbench -c $RPO_CLIENTS -j 2 on the mixed dataset's pgbench tables (scale $MIXED_SCALE), WalFlushInterval ${RPO_FLUSH_INTERVAL:-1 s (default)} --"
        echo "load before: $RPO_LOAD; machine busy during the window: $RPO_BUSY % of one core (all processes)"
        echo "pgbench: $(grep -E '^tps' "$RUNDIR/rpo/pgbench-summary.txt" | head -1 | sed 's/ (without initial connection time)//')"
        echo "$rep" | awk '
            /^samples/ { print "samples: " $2 " (every 100 ms over " $4 " s)" }
            /^wal/ { print "WAL written by the primary: " $2 " MB/s" }
            /^bytes/ { printf "RPO in bytes   (primary flush LSN - repository end):  p50 %12d   p99 %12d   max %12d\n", $2, $3, $4 }
            /^seconds/ { printf "RPO in seconds (until the repository reached it):   p50 %12.3f   p99 %12.3f   max %12.3f   (unresolved: %d)\n", $2, $3, $4, $5 }'
        echo "(seconds: from reading the primary's LSN to the first repository read at or past it; 100 ms sampling, so rounded up"
        echo " to the next sample; bytes: both read within a few ms, the primary first)"
    fi
}

# Verdicts.
verdicts() {
    local ds ok=1 hwm
    echo
    for ds in $DATASETS; do
        hwm=$(cat "$RUNDIR/$ds"/pgvault/*/hwm.txt 2>/dev/null | awk '$1 > a { a = $1 } $2 > b { b = $2 } END { print a + 0, b + 0 }')
        awk -v ds="$ds" -v ts="$TARGET_SPEED" -v tz="$TARGET_SIZE" -v tr="$TARGET_RSS_MB" -v hwm="$hwm" '
            $1 == ds { st[$2] = $3; wall[$2] = $5; tree[$2] = $13 / 1024; base[$2] = $14 }
            END {
                if (st["pgvault"] != "ok" || st["pgbackrest-zst"] != "ok") { print "verdict (" ds "): FAIL (pgvault or pgbackrest-zst did not complete every run)"; exit 1 }
                s = wall["pgbackrest-zst"] / wall["pgvault"]; z = base["pgvault"] / base["pgbackrest-zst"]
                split(hwm, h, " "); sum = (h[1] + h[2]) / 1024; rss = tree["pgvault"] > sum ? tree["pgvault"] : sum
                v1 = s >= ts ? "PASS" : "FAIL"; v2 = z <= tz ? "PASS" : "FAIL"; v3 = rss <= tr ? "PASS" : "FAIL"
                printf "verdict (%s): speed %.2fx pgBackRest zst (target >= %.2f) %s; repository %.3fx (target <= %.2f) %s; peak RSS %.0f MB (pgvault + pg_basebackup VmHWM %.0f MB, tree sample %.0f MB; target <= %d) %s\n",
                    ds, s, ts, v1, z, tz, v2, rss, sum, tree["pgvault"], tr, v3
                exit (v1 == "PASS" && v2 == "PASS" && v3 == "PASS") ? 0 : 1
            }' "$RUNDIR/summary.tsv" || ok=0
    done
    if [[ $RPO == 1 && -f $RUNDIR/rpo/samples.tsv ]]; then
        rpo_report | awk -v t="$TARGET_RPO_S" '/^seconds/ { v = ($3 <= t) ? "PASS" : "FAIL"; printf "verdict (RPO): p99 %.3f s (target <= %s s) %s\n", $3, t, v; exit v == "PASS" ? 0 : 1 }' || ok=0
    fi
    echo "total time: $(cat "$RUNDIR/total-seconds.txt" 2>/dev/null || echo '?') s; raw outputs: ${RUNDIR#"$ROOT"/}/<dataset>/<tool>/<run>/, ${RUNDIR#"$ROOT"/}/rpo/"
    return $((1 - ok))
}

status=0
summarize
{ report; verdicts || echo "OVERALL: targets missed"; } | tee "$OUT/results.txt"
grep -q 'FAIL' "$OUT/results.txt" && status=2
exit "$status"
