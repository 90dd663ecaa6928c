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
#   pgvault         pgvault backup (its default zstd level, or PGVAULT_LEVEL; CompressionWorkers=2, its own WAL streaming; defaults: BASE_BACKUP
#                   on its own replication connection, compressed by the server (Engine:BaseBackupCompression=Auto: zstd,
#                   2 workers, in the walsender, as pgBackRest compresses on the database host))
#   pgvault-level   the same at pgBackRest's level (Engine:CompressionLevel=LEVEL): the same-level comparison
#   pgvault-client  the same with Engine:BaseBackupCompression=Client (PgVault compresses, 2 worker threads)
#   pgvault-pgbb    the same with Engine:BaseBackupMethod=PgBasebackup (a pg_basebackup child relays the tar; PgVault compresses)
#   pgbackrest-zst  pgbackrest backup --type=full, posix repo, compress-type=zst compress-level=LEVEL process-max=2 start-fast=y
#   pgbackrest-lz4  the same with compress-type=lz4 (compress-level=1, pgBackRest's default for lz4)
# and, with S3=1 (or named in TOOLS), the S3 tools, against one local S3 server (tests/tools/s3-server.js: s3rver on
# loopback, HTTPS with a self-signed certificate, started by bench/lib.sh start_s3, a fresh data directory per run):
#   pgvault-enc     pgvault into its local repository, encrypted (Encryption: KeyId + a random 32-byte key)
#   pgvault-s3      pgvault into an s3 location on that server (prefix pgvault-s3)
#   pgvault-s3-enc  the same, encrypted
#   pgbackrest-s3   pgbackrest-zst with repo1-type=s3 on that server (path style, verify-tls=n: the certificate is self-signed)
# and the report gives MB/s (database bytes / wall seconds), repository bytes, peak RSS, CPU, PgVault's ratio to each.
# RPO: `pgvault serve` on the mixed dataset; after its first base backup, pgbench -c RPO_CLIENTS for RPO_SECONDS + 10 s;
# every 100 ms the primary's pg_current_wal_flush_lsn() and the active backup's end_lsn in pgvault's catalog (the
# durable end of WAL in the repository); p50/p99 of the distance in bytes and in seconds.
#
# Knobs (environment): SCALE=100 MIXED_SCALE=60 RANDOM_MB=1500 LEVEL=3 PGVAULT_LEVEL=default RPO_SECONDS=60 RPO_CLIENTS=4
#   DATASETS="pgbench mixed" TOOLS="tar pg_basebackup pgvault pgvault-client pgvault-pgbb pgbackrest-zst pgbackrest-lz4"
#   (none: no tool) RPO=1 (0 skips it)
#   S3=1: TOOLS="pgvault pgvault-enc pgvault-s3 pgvault-s3-enc pgbackrest-zst pgbackrest-s3" and RPO=0 unless set
#   RPO_FLUSH_INTERVAL= (PgVault's Engine:WalFlushInterval in the RPO run, e.g. 00:00:00.2; default: PgVault's default)
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
        -h|--help) sed -n '2,38p' "${BASH_SOURCE[0]}"; exit 0 ;;
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
PGVAULT_LEVEL=${PGVAULT_LEVEL:-default}
RPO_SECONDS=${RPO_SECONDS:-60}
RPO_CLIENTS=${RPO_CLIENTS:-4}
S3=${S3:-0}
if [[ $S3 == 1 ]]; then
    TOOLS=${TOOLS:-"pgvault pgvault-enc pgvault-s3 pgvault-s3-enc pgbackrest-zst pgbackrest-s3"}
    RPO=${RPO:-0}
fi
RPO=${RPO:-1}
RPO_FLUSH_INTERVAL=${RPO_FLUSH_INTERVAL:-}  # e.g. 00:00:00.2: PgVault's Engine:WalFlushInterval for the RPO run (default: its own)
DATASETS=${DATASETS:-"pgbench mixed"}
TOOLS=${TOOLS:-"tar pg_basebackup pgvault pgvault-level pgvault-client pgvault-pgbb pgbackrest-zst pgbackrest-lz4"}
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
TARGET_S3_SPEED=1.5                         # pgvault-s3 MB/s >= 1.5 x pgbackrest-s3's
TARGET_ENC_COST=15                          # pgvault-s3-enc (and pgvault-enc) MB/s >= (100 - 15) % of the plain one's
PGVAULT=$OUT/pgvault/pgvault
RUNDIR=$OUT/run
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

if (( REPORT_ONLY )); then
    [[ -f $RUNDIR/settings.sh ]] || { echo "no run to report in $RUNDIR" >&2; exit 1; }
    # shellcheck disable=SC1091
    source "$RUNDIR/settings.sh"
fi
STARTED=$(date +%s)
# shellcheck source=../lib.sh
source "$ROOT/bench/lib.sh"   # log, die, need_tools, measure, make_dataset, build_pgvault, start_cluster, ...
[[ $(id -u) == 0 ]] || die "run as root (PostgreSQL and pgBackRest run as the postgres user through setpriv)"

# ---------------------------------------------------------------------------------------------------------------- tools
need_tools

# ----------------------------------------------------------------------------------------------------- cleanup (trap)
WORK=""
PGDATA=""
PGPORT=""
SERVE_PID=""
BENCH_PID=""
SAMPLER_PID=""
PSQL_PID=""
SQLITE_PID=""
cleanup() {
    set +e
    stop_pid "$SAMPLER_PID"
    stop_pid "$PSQL_PID"
    stop_pid "$SQLITE_PID"
    stop_pid "$BENCH_PID"
    stop_pid "$SERVE_PID"
    stop_s3
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
(( REPORT_ONLY )) || build_pgvault

# ------------------------------------------------------------------------------------------------------ the cluster
if (( ! REPORT_ONLY )); then
rm -rf "$RUNDIR"
mkdir -p "$RUNDIR"
cat >"$RUNDIR/settings.sh" <<SETTINGS
QUICK=$QUICK DATASETS="$DATASETS" MIXED_SCALE=$MIXED_SCALE RPO=$RPO RPO_FLUSH_INTERVAL=$RPO_FLUSH_INTERVAL RPO_CLIENTS=$RPO_CLIENTS RPO_SECONDS=$RPO_SECONDS
LEVEL=$LEVEL PGVAULT_LEVEL=$PGVAULT_LEVEL CHECKSUMS=$CHECKSUMS REPS=$REPS S3=$S3 TOOLS="$TOOLS"
SETTINGS
start_cluster pgvault-bench-backup
[[ " $TOOLS " == *-s3[\ -]* ]] && start_s3
fi

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

run_pgvault() { # DATASET TOOL [EXTRA PGVAULT ARGUMENTS...]
    # TOOL: pgvault, pgvault-level, pgvault-client, pgvault-pgbb (command-line settings), pgvault-enc, pgvault-s3, pgvault-s3-enc (a
    # configuration file: see lib.sh pgvault_conf)
    local ds=$1 tool=$2 dd=$WORK/pgvault-$1 args
    shift 2
    rm -rf "$dd"
    if [[ $tool == pgvault || $tool == pgvault-level || $tool == pgvault-client || $tool == pgvault-pgbb ]]; then
        args=("--PgVault:DataDirectory=$dd" "--PgVault:Clusters:0:Id=$CLUSTER_ID"
            "--PgVault:Clusters:0:ConnectionString=Host=127.0.0.1;Port=$PGPORT;Username=postgres"
            "--PgVault:Engine:CompressionWorkers=$WORKERS" "--PgVault:Engine:PostgresBinDirectory=$PG_BIN" "$@")
        [[ $PGVAULT_LEVEL == default ]] || args+=("--PgVault:Engine:CompressionLevel=$PGVAULT_LEVEL")
    else
        mkdir -p "$dd"
        pgvault_conf "$dd.json" "$dd" "$tool"
        args=(--config "$dd.json" "$@")
        [[ $tool == pgvault-s3* ]] && s3_rm "$tool"
    fi
    # shellcheck disable=SC2046
    measure "$ds" "$tool" $(pgvault_cmd) backup --cluster "$CLUSTER_ID" "${args[@]}" || true
    # The base backup is the chain's base/ folder; its WAL is the chain's wal/ folder (S3: their objects).
    local d=$RUNDIR/$ds/$tool/$REP
    if [[ $tool == pgvault-s3* ]]; then
        (cd "$S3_DIR/$S3_BUCKET/$tool" 2>/dev/null && find . -type f -name '*._S3rver_object' -printf '%s %p\n' | sort -k2) >"$d/files.txt" 2>&1 || true
    else
        (cd "$dd/repository" 2>/dev/null && find . -type f -printf '%s %p\n' | sort -k2) >"$d/files.txt" 2>&1 || true
    fi
    # shellcheck disable=SC2046
    sizes "$ds" "$tool" $(pgvault_repo_bytes "$dd" "$tool")
    # pgvault's own peak and its pg_basebackup child's, from their VmHWM, and the CPU seconds of each (last sample).
    awk -v hz="$CLK_TCK" 'FNR == NR { name[$2] = $3; next } { if ($2 > tk[$1]) tk[$1] = $2 }
        END { for (p in tk) c[name[p]] += tk[p]; printf "%.1f %.1f\n", c["pgvault"] / hz, c["pg_basebackup"] / hz }' \
        "$d/rss.txt" "$d/rss.txt.cpu" >"$d/cpu-split.txt"
    awk '$3 == "pgvault" && $4 > a { a = $4 } $3 == "pg_basebackup" && $4 > b { b = $4 } END { print a + 0, b + 0 }' \
        "$d/rss.txt" >"$d/hwm.txt"
    # Its replication slot would keep WAL from now on: drop it.
    pgq "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$SLOT'" >/dev/null || true
    rm -rf "$dd" "$dd.json"
    [[ $tool == pgvault-s3* ]] && s3_rm "$tool"
    return 0
}

run_pgbackrest() { # DATASET CODEC   (CODEC s3: zst at LEVEL into an S3 repository, path /pgbackrest-s3 of the bucket)
    local codec=$2 tool=pgbackrest-$2 level=$LEVEL
    [[ $codec == lz4 ]] && level=1
    local conf=$WORK/pgbackrest-$codec.conf repo=$WORK/pgbackrest-$codec-repo spec
    spec=$repo
    if [[ $codec == s3 ]]; then
        codec=zst
        repo=$S3_DIR/$S3_BUCKET/$tool       # where the server keeps the objects (sizes, listing)
        spec=s3:/$tool
    fi
    rm -rf "$repo" "$WORK/pgbackrest-lock"
    pgbackrest_conf "$conf" "$spec" "$codec" "$level"
    local d=$RUNDIR/$1/$tool/$REP
    pgbackrest_archiving "$conf" "$d"
    measure "$1" "$tool" setpriv --reuid=postgres --regid=postgres --init-groups -- \
        pgbackrest --config="$conf" --stanza=bench backup --type=full || true
    set_archive_command /bin/true
    local base wal
    if [[ $spec == s3:* ]]; then
        base=$(s3_bytes "$tool/backup/bench" '*/backup/bench/*F/*')
        wal=$(s3_bytes "$tool/archive")
        (cd "$repo" && find . -type f -name '*._S3rver_object' -printf '%s %p\n' | sort -k2) >"$d/files.txt" 2>&1 || true
    else
        base=$(find "$repo/backup/bench" -mindepth 1 -maxdepth 1 -type d -name '*F' -exec du -sb {} + 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
        wal=$(size_of "$repo/archive")
        (cd "$repo" && find . -type f -printf '%s %p\n' | sort -k2) >"$d/files.txt" 2>&1 || true
    fi
    as_pg pgbackrest --config="$conf" --stanza=bench info >"$d/info.txt" 2>&1 || true
    sizes "$1" "$tool" "$base" "$wal"
    rm -rf "$repo"
}

# ------------------------------------------------------------------------------------------------------------- RPO
# `pgvault serve` backs the cluster up continuously; once its first base backup is complete, pgbench writes for
# RPO_SECONDS + 10 s and every 100 ms we read the primary's flush LSN, the repository's end (from the names of the WAL
# objects in the repository directory: whole segments and the .partial pieces, which appear by rename once durable) and
# the active backup's end_lsn in the catalog (which follows within a second; printed beside, not the verdict). psql and
# sqlite3 are persistent sessions; the listing is one find.
# The end of the WAL a filesystem repository holds (an LSN as a byte position), from its object names:
# wal/{TTTTTTTT}/{segment}-{sha}.zst ends at the segment's end, wal/{TTTTTTTT}/{segment}.partial/{offset}-{end}-{sha}.zst
# at the segment's start + end (both hexadecimal).
repository_end() {
    # A .partial folder removed once its segment is whole can vanish under find: not an error (the whole segment is
    # written before the folder goes, so at worst this one read is a piece behind, which counts against PgVault).
    { find "$1" -path '*/wal/*' -name '*.zst' -printf '%P\n' 2>/dev/null || true; } | awk -F/ '
        function hex(h,   i, v) { v = 0; h = toupper(h); for (i = 1; i <= length(h); i++) v = v * 16 + index("0123456789ABCDEF", substr(h, i, 1)) - 1; return v }
        function start(seg) { return hex(substr(seg, 9, 8)) * 4294967296 + hex(substr(seg, 17, 8)) * 16777216 }
        {
            name = $NF; parent = $(NF - 1)
            if (length(parent) == 32 && parent ~ /^[0-9A-F]+\.partial$/) { split(name, f, "-"); e = start(parent) + hex(f[2]) }
            else if (substr(name, 25, 1) == "-" && substr(name, 1, 24) ~ /^[0-9A-F]+$/) e = start(name) + 16777216
            else next
            if (e > m) m = e
        }
        END { printf "%.0f\n", m }'
}

run_rpo() {
    local dd=$WORK/pgvault-serve dir=$RUNDIR/rpo port levelarg=()
    [[ $PGVAULT_LEVEL == default ]] || levelarg=("--PgVault:Engine:CompressionLevel=$PGVAULT_LEVEL")
    mkdir -p "$dir"
    rm -rf "$dd"
    port=$(free_port) || die "no free port"
    log "RPO: pgvault serve on 127.0.0.1:$port, waiting for its first base backup"
    "$PGVAULT" serve --urls "http://127.0.0.1:$port" \
        "--PgVault:DataDirectory=$dd" "--PgVault:Clusters:0:Id=$CLUSTER_ID" \
        "--PgVault:Clusters:0:ConnectionString=Host=127.0.0.1;Port=$PGPORT;Username=postgres" \
        "${levelarg[@]}" "--PgVault:Engine:CompressionWorkers=$WORKERS" \
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
    local repo=$dd/repository
    [[ -d $repo ]] || die "no repository directory $repo"
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
    local t_start t_end t_stop t_p t_r p r c next i=0 m0 m1
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
        read -rt 5 c <&"$sout" || die "no answer from sqlite3"
        r=$(repository_end "$repo")
        [[ $p =~ ^[0-9]+$ && $r =~ ^[0-9]+$ && $c =~ ^[0-9]+$ ]] || die "unexpected sample: primary '$p', repository '$r', catalog '$c'"
        t_r=$(now_us)
        echo "$t_p $t_r $p $r $(( t_p < t_end ? 1 : 0 )) $c" >>"$dir/samples.tsv"
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
    # The same for the catalog's end_lsn (column 6): what the API shows, a second behind at most by design.
    awk '
        { tp[NR] = $1; tr[NR] = $2; p[NR] = $3; c[NR] = $6; w[NR] = $5 }
        END {
            for (i = 1; i <= NR; i++) {
                if (!w[i]) continue
                s = "unresolved"
                for (j = i; j <= NR; j++) if (c[j] >= p[i]) { s = (tr[j] - tp[i]) / 1e6; break }
                print s
            }
        }' "$f" >"$RUNDIR/rpo/catalog-lag.tsv"
    local n
    n=$(wc -l <"$RUNDIR/rpo/lag.tsv")
    (( n > 0 )) || { echo "samples 0"; return 0; }
    awk '$5 { if (!n++) { p0 = $3; t0 = $1 } p1 = $3; t1 = $1 }
         END { printf "samples %d over %.1f s\nwal %.2f MB/s\n", n, (t1 - t0) / 1e6, (p1 - p0) / 1e6 / ((t1 - t0) / 1e6) }' "$f"
    pcts() { sort -g | awk '{ a[NR] = $1 } END { k = int(0.5 * NR + 0.999999); m = int(0.99 * NR + 0.999999); if (k < 1) k = 1; if (m < 1) m = 1
                                               print a[k], a[m], a[NR] }'; }
    # How often the repository's end moved during the window (each move: a .partial piece or a whole segment).
    awk '$5 { if (n++ && $4 != r) { a++; if ($4 % 16777216 == 0) w++ } r = $4 } END { printf "advances %d %d\n", a, w }' "$f"
    echo "bytes $(cut -d' ' -f1 "$RUNDIR/rpo/lag.tsv" | pcts)"
    # Unresolved samples (never reached within the 10 s after the window) sort last, as "more than 10 s".
    echo "seconds $(cut -d' ' -f2 "$RUNDIR/rpo/lag.tsv" | sed 's/unresolved/1e9/' | pcts) $(grep -c unresolved "$RUNDIR/rpo/lag.tsv" || true)"
    echo "catalog $(sed 's/unresolved/1e9/' "$RUNDIR/rpo/catalog-lag.tsv" | pcts) $(grep -c unresolved "$RUNDIR/rpo/catalog-lag.tsv" || true)"
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
                pgvault|pgvault-enc|pgvault-s3|pgvault-s3-enc) run_pgvault "$ds" "$tool" ;;
                pgvault-level) run_pgvault "$ds" pgvault-level "--PgVault:Engine:CompressionLevel=$LEVEL" ;;
                pgvault-client) run_pgvault "$ds" pgvault-client --PgVault:Engine:BaseBackupCompression=Client ;;
                pgvault-pgbb) run_pgvault "$ds" pgvault-pgbb --PgVault:Engine:BaseBackupMethod=PgBasebackup ;;
                pgbackrest-zst) run_pgbackrest "$ds" zst ;;
                pgbackrest-lz4) run_pgbackrest "$ds" lz4 ;;
                pgbackrest-s3) run_pgbackrest "$ds" s3 ;;
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
    echo "settings: zstd level $LEVEL for pgBackRest (compress-level=$LEVEL) and pg_basebackup (server-zstd:level=$LEVEL), PgVault Engine:CompressionLevel=$([[ $PGVAULT_LEVEL == default ]] && echo "its default (1)" || echo "$PGVAULT_LEVEL") (pgvault-level: $LEVEL);"
    echo "          lz4 at pgBackRest's default level 1; $WORKERS workers/processes for every tool; data checksums $([[ $CHECKSUMS == 1 ]] && echo on || echo off);"
    echo "          every tool reads from the page cache (files frozen, checkpointed, read once before the runs);"
    echo "          $REPS run(s) of every tool per dataset, round robin: medians (wall: median and min-max), RSS: the largest of the runs"
    echo "targets:  PgVault >= ${TARGET_SPEED}x pgBackRest's MB/s and repository <= ${TARGET_SIZE}x pgBackRest's (zst); peak RSS <= $TARGET_RSS_MB MB; RPO p99 <= ${TARGET_RPO_S} s"
    if [[ " $TOOLS " == *-s3[\ -]* || " $TOOLS " == *-enc\ * ]]; then
        echo "          S3: pgvault-s3 >= ${TARGET_S3_SPEED}x pgbackrest-s3's MB/s; encryption (pgvault-s3-enc, pgvault-enc) costs <= $TARGET_ENC_COST % of the MB/s"
        echo "S3:       one s3rver 3.7.1 (tests/tools/s3-server.js, node $(node --version 2>/dev/null)) on 127.0.0.1 over HTTPS (self-signed"
        echo "          certificate: pgBackRest repo1-storage-verify-tls=n, PgVault trusts it through SSL_CERT_FILE), path-style,"
        echo "          objects on the same /tmp filesystem; PgVault part size 8 MiB x 4 concurrent (defaults), pgBackRest process-max=$WORKERS"
    fi
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
                    if (t !~ /^pgvault/ && mbs["pgvault"] > 0 && mbs[t] > 0)
                        r = ratio(mbs["pgvault"], mbs[t]) " / " (base[t] > 0 ? ratio(base["pgvault"], base[t]) : "-") " / " ratio(tree["pgvault"], tree[t])
                    b = base[t] > 0 ? base[t] : "-"; wb = wal[t] > 0 ? wal[t] : "-"; f = st[t] == "ok" ? "" : "  " st[t]
                    mm = sprintf("(%.1f-%.1f)", wmin[t], wmax[t])
                    printf "%-15s %7.1f %13s %8.1f %13s %11s %5.0f MB %5.0f MB %6.1f %8.1f %5d%% %5.2f  %s%s\n", t, wall[t], mm, mbs[t],
                        b, wb, tree[t], maxrss[t], cpu[t], pgc[t], other[t], load[t], r, f
                }
            }' "$RUNDIR/summary.tsv"
        local v
        for v in pgvault pgvault-level pgvault-client pgvault-pgbb pgvault-enc pgvault-s3 pgvault-s3-enc; do
            compgen -G "$RUNDIR/$ds/$v/*/hwm.txt" >/dev/null || continue
            cat "$RUNDIR/$ds/$v"/*/hwm.txt | awk -v v="$v" '$1 > a { a = $1 } $2 > b { b = $2 } END {
                printf "%s peak RSS by process (VmHWM, largest of the runs): pgvault %.0f MB, its pg_basebackup child %.0f MB\n", v, a / 1024, b / 1024 }'
            cat "$RUNDIR/$ds/$v"/*/cpu-split.txt 2>/dev/null | awk -v v="$v" '{ a = a " " $1; b = b " " $2; n++ } END {
                if (n) printf "%s CPU by process (per run): pgvault%s s; pg_basebackup%s s\n", v, a, b }'
        done
        s3_report "$ds" "$RUNDIR/summary.tsv" 8
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
        echo "-- RPO: pgvault serve, pgbench -c $RPO_CLIENTS -j 2 on the mixed dataset's pgbench tables (scale $MIXED_SCALE), WalFlushInterval ${RPO_FLUSH_INTERVAL:-default} --"
        echo "repository end: from the WAL object names in the repository directory; catalog: the active backup's end_lsn"
        echo "load before: $RPO_LOAD; machine busy during the window: $RPO_BUSY % of one core (all processes)"
        echo "pgbench: $(grep -E '^tps' "$RUNDIR/rpo/pgbench-summary.txt" | head -1 | sed 's/ (without initial connection time)//')"
        echo "$rep" | awk '
            /^samples/ { print "samples: " $2 " (every 100 ms over " $4 " s)" }
            /^wal/ { print "WAL written by the primary: " $2 " MB/s" }
            /^advances/ { print "repository end advanced " $2 " times in the window (" $3 " to a segment boundary, the others by .partial pieces; seen at 100 ms sampling)" }
            /^bytes/ { printf "RPO in bytes   (primary flush LSN - repository end):  p50 %12d   p99 %12d   max %12d\n", $2, $3, $4 }
            /^seconds/ { printf "RPO in seconds (until the repository reached it):   p50 %12.3f   p99 %12.3f   max %12.3f   (unresolved: %d)\n", $2, $3, $4, $5 }
            /^catalog/ { printf "catalog lag    (until the catalog row reached it):  p50 %12.3f   p99 %12.3f   max %12.3f   (unresolved: %d; the API reads this)\n", $2, $3, $4, $5 }'
        echo "(seconds: from reading the primary's LSN to the first repository read at or past it; 100 ms sampling, so rounded up"
        echo " to the next sample; bytes: both read within a few ms, the primary first)"
    fi
}

# Verdicts.
verdicts() {
    local ds ok=1 hwm
    echo
    # The default configuration (pgvault) decides the exit status; the variants are reported beside it.
    local pv
    for ds in $DATASETS; do
        s3_verdicts "$ds" "$RUNDIR/summary.tsv" "$TARGET_S3_SPEED" "$TARGET_ENC_COST" "backup" || ok=0
        # The local comparison (pgvault and its variants against pgbackrest-zst) when either is among the tools.
        awk -v ds="$ds" '$1 == ds && ($2 == "pgvault" || $2 == "pgbackrest-zst") { f = 1 } END { exit !f }' "$RUNDIR/summary.tsv" || continue
        for pv in pgvault pgvault-level pgvault-client pgvault-pgbb; do
            [[ $pv == pgvault ]] || grep -q "^$ds $pv " "$RUNDIR/summary.tsv" || continue
            hwm=$(cat "$RUNDIR/$ds/$pv"/*/hwm.txt 2>/dev/null | awk '$1 > a { a = $1 } $2 > b { b = $2 } END { print a + 0, b + 0 }')
            awk -v ds="$ds" -v pv="$pv" -v ts="$TARGET_SPEED" -v tz="$TARGET_SIZE" -v tr="$TARGET_RSS_MB" -v hwm="$hwm" '
                $1 == ds { st[$2] = $3; wall[$2] = $5; tree[$2] = $13 / 1024; base[$2] = $14 }
                END {
                    name = pv == "pgvault" ? ds : ds ", " pv
                    if (st[pv] != "ok" || st["pgbackrest-zst"] != "ok") { print "verdict (" name "): FAIL (" pv " or pgbackrest-zst did not complete every run)"; exit 1 }
                    s = wall["pgbackrest-zst"] / wall[pv]; z = base[pv] / base["pgbackrest-zst"]
                    split(hwm, h, " "); sum = (h[1] + h[2]) / 1024; rss = tree[pv] > sum ? tree[pv] : sum
                    v1 = s >= ts ? "PASS" : "FAIL"; v2 = z <= tz ? "PASS" : "FAIL"; v3 = rss <= tr ? "PASS" : "FAIL"
                    printf "verdict (%s): speed %.2fx pgBackRest zst (target >= %.2f) %s; repository %.3fx (target <= %.2f) %s; peak RSS %.0f MB (pgvault + pg_basebackup VmHWM %.0f MB, tree sample %.0f MB; target <= %d) %s\n",
                        name, s, ts, v1, z, tz, v2, rss, sum, tree[pv], tr, v3
                    exit (v1 == "PASS" && v2 == "PASS" && v3 == "PASS") ? 0 : 1
                }' "$RUNDIR/summary.tsv" || { [[ $pv != pgvault ]] || ok=0; }
        done
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
