#!/usr/bin/env bash
# PgVault restore benchmark: `pgvault restore` against `pgbackrest restore` (and a raw copy of the data directory), on
# the same machine in the same run, then the time to a consistent, promoted server after replaying pgbench WAL.
#
#   bash bench/restore/run.sh            (from the repository root; see bench/README.md)
#   bash bench/restore/run.sh --quick    (small datasets and a 20 s replay window: a check that everything works)
#   bash bench/restore/run.sh --report   (prints the report of the last run again, from OUT/run, without measuring)
#
# Datasets: those of bench/backup (bench/lib.sh make_dataset), in one throwaway PostgreSQL 15 cluster:
#   pgbench  `pgbench -i -s SCALE` (SCALE=100: ~1.6 GB, very compressible)
#   mixed    `pgbench -i -s MIXED_SCALE` plus RANDOM_MB of random bytes (60 + 1,500 MB: ~2.5 GB, ~40 % compressible)
# Throughput, per dataset: one backup with each tool first (not measured: bench/backup measures backups), the
# repositories read once (page cache); then REPS rounds, round robin, of each tool restoring into an empty directory,
# each command ending with a `sync`:
#   tar             tar -cf - (PGDATA without pg_wal) | tar -xf - -C DIR; sync: a raw copy, for comparison
#   pgvault         pgvault restore --backup-id ID --to DIR; sync   (a `pgvault backup` of the dataset, zstd level LEVEL)
#   pgbackrest-zst  pgbackrest restore --pg1-path=DIR; sync         (backup --type=full, compress-type=zst
#                   compress-level=LEVEL, process-max=2, the settings of bench/backup's pgbackrest-zst)
#   pgbackrest-lz4  the same with compress-type=lz4 (level 1)
# and, with S3=1 (or named in TOOLS), the S3 tools, against one local S3 server (tests/tools/s3-server.js: s3rver on
# loopback, HTTPS with a self-signed certificate, started by bench/lib.sh start_s3, a fresh data directory per run):
#   pgvault-enc     pgvault restore of a backup into a local repository, encrypted (Encryption: KeyId + a random key)
#   pgvault-s3      pgvault restore --config FILE of a backup in an s3 location on that server (prefix pgvault-s3)
#   pgvault-s3-enc  the same, encrypted
#   pgbackrest-s3   pgbackrest-zst with repo1-type=s3 on that server (path style, verify-tls=n: self-signed certificate)
# MB/s = database bytes (the data directory without pg_wal) / wall seconds of restore + sync; peak RSS; CPU seconds.
# Replay (on the REPLAY_DATASET's cluster, right after its throughput runs): `pgvault serve` streams WAL (its first base
# backup of a new chain) while pgBackRest archives it (archive-push; a full backup after pgvault's); pgbench -c
# REPLAY_CLIENTS writes for REPLAY_SECONDS; a WAL switch; both archives hold everything. Then each tool restores its
# latest (pgvault: no target, restore_command `pgvault wal-fetch`; pgBackRest: --type=default, restore_command its
# archive-get, synchronous (pgbackrest) or archive-async=y (pgbackrest-async)), PostgreSQL starts on the result, and
# the clock runs until pg_is_in_recovery() is false, split into replay (to the server's "redo done") and promotion (the
# rest); PgVault's CPU (its fetch agent's and the restore_command's) per GB of WAL replayed, and the CPU of one handover
# of a spooled segment (HANDOVERS runs of its restore_command). The restored data is compared with the primary's.
#
# Knobs (environment): SCALE=100 MIXED_SCALE=60 RANDOM_MB=1500 LEVEL=3 REPS=3 (quick: 1)
#   DATASETS="pgbench mixed" TOOLS="tar pgvault pgbackrest-zst pgbackrest-lz4" (none: no tool)
#   S3=1: TOOLS="pgvault pgvault-enc pgvault-s3 pgvault-s3-enc pgbackrest-zst pgbackrest-s3" and REPLAY=0 unless set
#   REPLAY=1 (0 skips it) REPLAY_SECONDS=300 (quick: 20) REPLAY_CLIENTS=4 REPLAY_DATASET=pgbench REPLAY_REPS=1
#   REPLAY_TOOLS="pgvault pgbackrest pgbackrest-async" REPLAY_TIMEOUT=3600 HANDOVERS=300 (runs of the restore_command
#   on a full spool, to measure one handover's CPU) PGVAULT_BASE= (another build's pgvault program: REPLAY_TOOLS may
#   then name pgvault-base, replayed with it, to compare two builds in one run)
#   REPLAY_S3=$S3 (1: pgvault serve streams into an s3 location and pgBackRest archives into an s3 repository, both on
#   the S3 server; the restored servers fetch their WAL from there: S3=1 REPLAY=1 runs it)
#   REV=HEAD (commit to build, exported with git archive; REV= builds the working tree) SKIP_BUILD=1 (reuse OUT/pgvault)
#   PG_BIN=/usr/lib/postgresql/15/bin CHECKSUMS=0 QUIET_WAIT=10 KEEP=0 (1 keeps /tmp files, repositories included) OUT=bench/restore/out
# Exit status: 0 every target met, 2 the benchmark ran but a target was missed (or a restore failed or restored the wrong
# data), anything else: the benchmark broke.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
QUICK=0
REPORT_ONLY=0
for a in "$@"; do
    case $a in
        --quick) QUICK=1 ;;
        --report) REPORT_ONLY=1 ;;
        -h|--help) sed -n '2,48p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "unknown argument $a" >&2; exit 1 ;;
    esac
done
if (( QUICK )); then
    SCALE=${SCALE:-10}; MIXED_SCALE=${MIXED_SCALE:-6}; RANDOM_MB=${RANDOM_MB:-150}; REPLAY_SECONDS=${REPLAY_SECONDS:-20}
    QUIET_WAIT=${QUIET_WAIT:-3}; REPS=${REPS:-1}
fi
OUT=${OUT:-$HERE/out}
SCALE=${SCALE:-100}
MIXED_SCALE=${MIXED_SCALE:-60}
RANDOM_MB=${RANDOM_MB:-1500}
LEVEL=${LEVEL:-3}
REPS=${REPS:-3}
S3=${S3:-0}
if [[ $S3 == 1 ]]; then
    TOOLS=${TOOLS:-"pgvault pgvault-enc pgvault-s3 pgvault-s3-enc pgbackrest-zst pgbackrest-s3"}
    REPLAY=${REPLAY:-0}
fi
DATASETS=${DATASETS:-"pgbench mixed"}
TOOLS=${TOOLS:-"tar pgvault pgbackrest-zst pgbackrest-lz4"}
REPLAY=${REPLAY:-1}
REPLAY_SECONDS=${REPLAY_SECONDS:-300}
REPLAY_CLIENTS=${REPLAY_CLIENTS:-4}
REPLAY_DATASET=${REPLAY_DATASET:-pgbench}
REPLAY_REPS=${REPLAY_REPS:-1}
REPLAY_TOOLS=${REPLAY_TOOLS:-"pgvault pgbackrest pgbackrest-async"}
REPLAY_S3=${REPLAY_S3:-$S3}                 # 1: the replay part against the S3 server (pgvault's s3 location, pgBackRest's s3 repo)
REPLAY_TIMEOUT=${REPLAY_TIMEOUT:-3600}
HANDOVERS=${HANDOVERS:-300}
PGVAULT_BASE=${PGVAULT_BASE:-}               # another pgvault program, replayed as the tool pgvault-base (before/after in one run)
REV=${REV-HEAD}
SKIP_BUILD=${SKIP_BUILD:-0}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
CHECKSUMS=${CHECKSUMS:-0}
QUIET_WAIT=${QUIET_WAIT:-10}
KEEP=${KEEP:-0}
WORKERS=2                                   # pgBackRest process-max, PgVault's CompressionWorkers (backup)
CLUSTER_ID=7d1e4a2b-3c5f-4e6a-8b9c-0d1e2f3a4b5c
SLOT=pgvault_7d1e4a2b3c5f                   # PgVault's default slot name for that id
TARGET_SPEED=1.3                            # PgVault restore MB/s >= 1.3 x pgBackRest's (zst)
TARGET_S3_SPEED=1.5                         # pgvault-s3 restore MB/s >= 1.5 x pgbackrest-s3's
TARGET_ENC_COST=15                          # pgvault-s3-enc (and pgvault-enc) MB/s >= (100 - 15) % of the plain one's
TARGET_RTO_S3=0.8                           # replay, S3: PgVault's time to promotion <= 0.8 x pgBackRest asynchronous's
TARGET_RTO_LOCAL=1.0                        # replay, local repository: <= 1.0 x pgBackRest asynchronous's
TARGET_HANDOVER_MS=10                       # a spooled segment handed to PostgreSQL in <= 10 ms of CPU
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
if [[ $REPLAY == 1 && " $DATASETS " != *" $REPLAY_DATASET "* ]]; then
    die "REPLAY_DATASET=$REPLAY_DATASET is not one of DATASETS=\"$DATASETS\" (or set REPLAY=0)"
fi
need_tools

# ----------------------------------------------------------------------------------------------------- cleanup (trap)
WORK=""
PGDATA=""
PGPORT=""
SERVE_PID=""
BENCH_PID=""
SAMPLER_PID=""
RESTORED=""                                 # a restored data directory whose server may be running
cleanup() {
    set +e
    stop_pid "$SAMPLER_PID"
    stop_pid "$BENCH_PID"
    stop_pid "$SERVE_PID"
    stop_s3
    if [[ -n $RESTORED && -f $RESTORED/postmaster.pid ]]; then
        as_pg "$PG_BIN/pg_ctl" -D "$RESTORED" -m immediate -w -t 60 stop >/dev/null 2>&1
    fi
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
QUICK=$QUICK DATASETS="$DATASETS" TOOLS="$TOOLS" LEVEL=$LEVEL CHECKSUMS=$CHECKSUMS REPS=$REPS
REPLAY=$REPLAY REPLAY_SECONDS=$REPLAY_SECONDS REPLAY_CLIENTS=$REPLAY_CLIENTS REPLAY_DATASET=$REPLAY_DATASET REPLAY_REPS=$REPLAY_REPS
REPLAY_TOOLS="$REPLAY_TOOLS" REPLAY_S3=$REPLAY_S3 SCALE=$SCALE MIXED_SCALE=$MIXED_SCALE RANDOM_MB=$RANDOM_MB
S3=$S3
SETTINGS
start_cluster pgvault-bench-restore
[[ " $TOOLS " == *-s3[\ -]* || ( $REPLAY == 1 && $REPLAY_S3 == 1 ) ]] && start_s3
fi

drop_slot() { pgq "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$SLOT'" >/dev/null || true; }

# An empty directory for a restore, owned by postgres, mode 0700 (what PostgreSQL wants), after a `sync` so that the
# measured `sync` flushes only what the restore wrote.
fresh_dir() { # DIR
    rm -rf "$1"
    mkdir -p "$1"
    chown postgres: "$1"
    chmod 700 "$1"
    sync
}

# ------------------------------------------------------------------------------------------------- the backups
# One backup of the dataset with each tool, not measured. PgVault: `pgvault backup` into WORK/pgvault-DATASET (its id
# in PGVAULT_IDS[pgvault]); its variants into WORK/TOOL-DATASET, configured by WORK/TOOL-DATASET.json (lib.sh
# pgvault_conf; S3: prefix TOOL of the bucket); pgBackRest: a full backup into WORK/pgbackrest-CODEC-repo (pgbackrest-s3:
# path /pgbackrest-s3 of the bucket) with WORK/pgbackrest-CODEC.conf.
declare -A PGVAULT_IDS=()
declare -A REPO_BYTES=()
prepare_backups() { # DATASET
    local ds=$1 d=$RUNDIR/$1/backups tool
    mkdir -p "$d"
    for tool in $TOOLS; do
        case $tool in
            pgvault|pgvault-enc|pgvault-s3|pgvault-s3-enc)
                local dd=$WORK/$tool-$ds args id
                rm -rf "$dd"
                if [[ $tool == pgvault ]]; then
                    # The restored server's wal-fetch runs as postgres and reads the repository: shared with PostgreSQL's group, as
        # docs/SECURITY.md says (restore refuses a repository postgres cannot read).
        mkdir -p "$dd/repository"
        chgrp postgres "$dd" "$dd/repository"
        chmod 2750 "$dd" "$dd/repository"
        args=("--PgVault:DataDirectory=$dd" "--PgVault:GroupAccess=true" "--PgVault:Clusters:0:Id=$CLUSTER_ID"
                        "--PgVault:Clusters:0:ConnectionString=Host=127.0.0.1;Port=$PGPORT;Username=postgres"
                        "--PgVault:Engine:CompressionLevel=$LEVEL" "--PgVault:Engine:CompressionWorkers=$WORKERS"
                        "--PgVault:Engine:PostgresBinDirectory=$PG_BIN")
                else
                    mkdir -p "$dd"
                    pgvault_conf "$dd.json" "$dd" "$tool"
                    args=(--config "$dd.json")
                    [[ $tool == pgvault-s3* ]] && s3_rm "$tool"
                fi
                log "$ds: $tool backup (not measured)"
                # shellcheck disable=SC2046
                $(pgvault_cmd) backup --cluster "$CLUSTER_ID" "${args[@]}" >"$d/$tool.txt" 2>&1 \
                    || { tail -20 "$d/$tool.txt" >&2; die "$tool backup failed (log: $d/$tool.txt)"; }
                drop_slot
                id=$(sed -n 's/^base backup .* of \([^ ]*\) complete.*/\1/p' "$d/$tool.txt" | tail -1)
                [[ -n $id ]] || die "no backup id in $tool backup's output ($d/$tool.txt)"
                PGVAULT_IDS[$tool]=$id
                if [[ $tool == pgvault-s3* ]]; then REPO_BYTES[$tool]=$(s3_bytes "$tool"); else REPO_BYTES[$tool]=$(size_of "$dd/repository"); fi
                ;;
            pgbackrest-zst|pgbackrest-lz4|pgbackrest-s3)
                local codec=${tool#pgbackrest-} level=$LEVEL
                [[ $codec == lz4 ]] && level=1
                local conf=$WORK/pgbackrest-$codec.conf repo=$WORK/pgbackrest-$codec-repo spec
                spec=$repo
                if [[ $codec == s3 ]]; then
                    codec=zst
                    repo=$S3_DIR/$S3_BUCKET/$tool   # where the server keeps the objects
                    spec=s3:/$tool
                fi
                rm -rf "$repo" "$WORK/pgbackrest-lock"
                pgbackrest_conf "$conf" "$spec" "$codec" "$level"
                pgbackrest_archiving "$conf" "$d/$tool"
                log "$ds: pgbackrest backup --type=full, $codec level $level (not measured)"
                as_pg pgbackrest --config="$conf" --stanza=bench backup --type=full >"$d/$tool/backup.txt" 2>&1 \
                    || { tail -20 "$d/$tool/backup.txt" >&2; die "pgbackrest backup failed (log: $d/$tool/backup.txt)"; }
                set_archive_command /bin/true
                if [[ $spec == s3:* ]]; then REPO_BYTES[$tool]=$(s3_bytes "$tool"); else REPO_BYTES[$tool]=$(size_of "$repo"); fi
                ;;
        esac
    done
    # Every repository read once: each tool restores from the page cache, as the data directory is read from it by tar.
    local t
    for t in "$WORK"/pgvault*-"$ds" "$WORK"/pgbackrest-*-repo ${S3_DIR:+"$S3_DIR"}; do
        [[ -d $t ]] && find "$t" -type f -exec cat {} + >/dev/null
    done
    for tool in "${!REPO_BYTES[@]}"; do echo "$ds $tool ${REPO_BYTES[$tool]}" >>"$RUNDIR/repos.tsv"; done
    REPO_BYTES=()
}

# ------------------------------------------------------------------------------------------------ measured restores
# "ds tool rep restored_bytes files" (restored bytes: the directory without pg_wal, as the database bytes are counted)
restored() { # DATASET TOOL DIR
    local b w f
    b=$(size_of "$3"); w=$(size_of "$3/pg_wal"); f=$(find "$3" -type f | wc -l)
    echo "$1 $2 $REP $((b - w)) $f" >>"$RUNDIR/restored.tsv"
}

run_restore() { # DATASET TOOL
    local ds=$1 tool=$2 target=$WORK/restore
    fresh_dir "$target"
    case $tool in
        tar)
            measure "$ds" tar setpriv --reuid=postgres --regid=postgres --init-groups -- bash -c \
                "tar -cf - --exclude=./pg_wal -C '$PGDATA' . | tar -xf - -C '$target' && sync" || true
            ;;
        pgvault)
            measure "$ds" pgvault bash -c "'$PGVAULT' restore --backup-id '${PGVAULT_IDS[pgvault]}' --to '$target' \
                '--PgVault:DataDirectory=$WORK/pgvault-$ds' && sync" || true
            ;;
        pgvault-enc|pgvault-s3|pgvault-s3-enc)
            measure "$ds" "$tool" bash -c "$(pgvault_cmd) restore --backup-id '${PGVAULT_IDS[$tool]}' --to '$target' \
                --config '$WORK/$tool-$ds.json' && sync" || true
            ;;
        pgbackrest-zst|pgbackrest-lz4|pgbackrest-s3)
            local codec=${tool#pgbackrest-}
            measure "$ds" "$tool" setpriv --reuid=postgres --regid=postgres --init-groups -- bash -c \
                "pgbackrest --config='$WORK/pgbackrest-$codec.conf' --stanza=bench --pg1-path='$target' restore && sync" || true
            ;;
        *) die "unknown tool $tool" ;;
    esac
    restored "$ds" "$tool" "$target"
    rm -rf "$target"
}

# ------------------------------------------------------------------------------------------------------------- replay
# Time to a consistent, promoted server: see the header. Appends to RUNDIR/replay/replay.tsv:
# "tool rep status restore_s start_to_promoted_s total_s replay_cpu_s busy_pct segments check load redo_bytes"
run_replay() {
    local dir=$RUNDIR/replay dd=$WORK/replay-pgvault port
    local conf=$WORK/replay-pgbackrest.conf aconf=$WORK/replay-pgbackrest-async.conf repo=$WORK/replay-pgbackrest-repo
    mkdir -p "$dir"
    : >"$dir/replay.tsv"
    rm -rf "$dd" "$repo" "$WORK/pgbackrest-lock" "$WORK/pgbackrest-spool"
    mkdir -p "$WORK/pgbackrest-spool"
    chown postgres: "$WORK/pgbackrest-spool"
    # REPLAY_S3=1: pgBackRest's repository at /replay-pgbackrest of the bucket, pgvault's location the prefix pgvault-s3
    # (lib.sh pgvault_conf; its file readable by postgres: the restored server's wal-fetch reads it).
    local spec=$repo args
    if [[ $REPLAY_S3 == 1 ]]; then
        repo=$S3_DIR/$S3_BUCKET/replay-pgbackrest
        spec=s3:/replay-pgbackrest
        rm -rf "$repo"
        s3_rm pgvault-s3
        mkdir -p "$dd"
        pgvault_conf "$dd.json" "$dd" pgvault-s3
        chmod 644 "$dd.json"
        args=(--config "$dd.json")
    else
        # The restored server's wal-fetch runs as postgres and reads the repository: shared with PostgreSQL's group, as
        # docs/SECURITY.md says (restore refuses a repository postgres cannot read).
        mkdir -p "$dd/repository"
        chgrp postgres "$dd" "$dd/repository"
        chmod 2750 "$dd" "$dd/repository"
        args=("--PgVault:DataDirectory=$dd" "--PgVault:GroupAccess=true" "--PgVault:Clusters:0:Id=$CLUSTER_ID"
            "--PgVault:Clusters:0:ConnectionString=Host=127.0.0.1;Port=$PGPORT;Username=postgres"
            "--PgVault:Engine:CompressionLevel=$LEVEL" "--PgVault:Engine:CompressionWorkers=$WORKERS"
            "--PgVault:Engine:PostgresBinDirectory=$PG_BIN")
    fi
    pgbackrest_conf "$conf" "$spec" zst "$LEVEL"
    # The same repository, read with asynchronous archive-get (prefetching process-max=2 processes into the spool).
    pgbackrest_conf "$aconf" "$spec" zst "$LEVEL" archive-async=y "spool-path=$WORK/pgbackrest-spool"
    pgbackrest_archiving "$conf" "$dir/pgbackrest"

    port=$(free_port) || die "no free port"
    log "replay: pgvault serve on 127.0.0.1:$port, waiting for its first base backup"
    # shellcheck disable=SC2046
    $(pgvault_cmd) serve --urls "http://127.0.0.1:$port" "${args[@]}" "--PgVault:RateLimit:PermitsPerSecond=0" >"$dir/serve.log" 2>&1 &
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
    local id
    id=$(sqlite3 -cmd '.timeout 2000' "$db" "SELECT id FROM backups WHERE is_active = 1")
    log "replay: pgvault's base backup of $id complete; pgbackrest backup --type=full"
    as_pg pgbackrest --config="$conf" --stanza=bench backup --type=full >"$dir/pgbackrest/backup.txt" 2>&1 \
        || { tail -20 "$dir/pgbackrest/backup.txt" >&2; die "pgbackrest backup failed"; }

    log "replay: pgbench -n -c $REPLAY_CLIENTS -j 2 -T $REPLAY_SECONDS (pgvault streams the WAL, pgBackRest archives it)"
    local lsn0 lsn1 sw seg
    lsn0=$(pgq "SELECT pg_current_wal_lsn()")
    uptime >"$dir/uptime-pgbench.txt"
    "$PG_BIN/pgbench" -n -c "$REPLAY_CLIENTS" -j 2 -T "$REPLAY_SECONDS" -P 30 -h 127.0.0.1 -p "$PGPORT" -U postgres bench \
        >"$dir/pgbench.txt" 2>&1 || { cat "$dir/pgbench.txt" >&2; die "pgbench failed"; }
    lsn1=$(pgq "SELECT pg_current_wal_lsn()")
    # What every restored server must hold.
    local expect
    expect=$(pgq "SELECT (SELECT count(*) FROM pgbench_history) || '/' || (SELECT sum(abalance) FROM pgbench_accounts)")
    # The last segment is archived by pgBackRest once it is complete: switch, and wait for both archives to hold it.
    sw=$(pgq "SELECT pg_switch_wal()")
    seg=$(pgq "SELECT pg_walfile_name('$sw')")
    local sw_num
    sw_num=$(pgq "SELECT '$sw'::pg_lsn - '0/0'")
    deadline=$((SECONDS + 600))
    while :; do
        local archived fl end
        archived=$(pgq "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")
        fl=$(pgq "SELECT failed_count FROM pg_stat_archiver")
        end=$(sqlite3 -cmd '.timeout 2000' "$db" "SELECT end_lsn FROM backups WHERE is_active = 1" 2>/dev/null || echo 0)
        [[ ! $archived < $seg && ${end:-0} -ge $sw_num ]] && break
        (( SECONDS < deadline )) || die "WAL up to $sw ($seg) not in both archives after 600 s: pgBackRest's last $archived ($fl failures), pgvault's end $end"
        sleep 0.5
    done
    stop_pid "$SERVE_PID"
    SERVE_PID=""
    drop_slot
    set_archive_command /bin/true
    local wal_bytes pgv_wal pgbr_wal
    wal_bytes=$(pgq "SELECT '$lsn1'::pg_lsn - '$lsn0'::pg_lsn")
    if [[ $REPLAY_S3 == 1 ]]; then
        pgv_wal=$(pgvault_repo_bytes "$dd" pgvault-s3 | cut -d' ' -f2)
        pgbr_wal=$(s3_bytes replay-pgbackrest/archive)
    else
        pgv_wal=$(pgvault_repo_bytes "$dd" pgvault | cut -d' ' -f2)
        pgbr_wal=$(size_of "$repo/archive")
    fi
    grep -E '^(tps|number of transactions actually processed|latency average)' "$dir/pgbench.txt" >"$dir/pgbench-summary.txt" || true
    echo "REPLAY_WAL_BYTES=$wal_bytes REPLAY_EXPECT=$expect REPLAY_PGV_WAL=$pgv_wal REPLAY_PGBR_WAL=$pgbr_wal REPLAY_FROM=$lsn0 REPLAY_TO=$lsn1 REPLAY_ID=$id" >"$dir/meta.sh"
    log "replay: $(awk -v b="$wal_bytes" 'BEGIN { printf "%.0f", b / 1e6 }') MB of WAL written ($lsn0 to $lsn1), in both archives; history rows/sum(abalance) = $expect"

    local r tool
    for ((r = 1; r <= REPLAY_REPS; r++)); do
        for tool in $REPLAY_TOOLS; do
            replay_one "$tool" "$r" "$id" "$dd" "$conf" "$aconf" "$expect"
        done
    done
    rm -rf "$dd" "$dd.json" "$repo"
    [[ $REPLAY_S3 == 1 ]] && s3_rm pgvault-s3
    return 0
}

# The pid of the startup process of the server on DATA_DIRECTORY (nothing when there is none: not yet, or promoted).
startup_pid() { # DATA_DIRECTORY
    local pm
    pm=$(head -1 "$1/postmaster.pid" 2>/dev/null || true)
    [[ $pm =~ ^[0-9]+$ ]] || return 0
    { pgrep -P "$pm" -f 'startup' || true; } | head -1
}

# Microseconds since the epoch of a PostgreSQL log line (log_line_prefix starting with %m, the default), 0 without one.
log_time_us() { # LINE
    local ts
    ts=$(sed -n 's/^\([0-9]\{4\}-[0-9-]* [0-9:.]* [A-Za-z0-9+-]*\) .*/\1/p' <<<"$1")
    if [[ -n $ts ]]; then date -d "$ts" +%s%6N 2>/dev/null || echo 0; else echo 0; fi
}

# The cost of handing a spooled segment to PostgreSQL: PgVault's restore_command (as restore wrote it into
# postgresql.auto.conf, %f and %p expanded as PostgreSQL does) run HANDOVERS times by /bin/sh, as postgres, in a
# directory shaped like a recovering data directory whose spool holds every file asked for, each also linked into
# pg_wal as the fetch agent leaves it (LAYOUT link: the hot path, no process but the shell) or not (LAYOUT spool: the
# shell moves it with mv, as when the link was not possible, and as builds before the link did).
# Writes "cpu_ms wall_ms runs" per handover (CPU: user+sys of the shells and what they ran, bash's `times`).
handover_cost() { # AUTO_CONF OUT [LAYOUT]
    local cmd dir=$WORK/handover layout=${3:-link}
    cmd=$(sed -n "s/^restore_command = '\(.*\)'$/\1/p" "$1" | tail -1 | sed "s/''/'/g")
    [[ -n $cmd ]] || { log "  no restore_command in $1: handover not measured"; echo "0 0 0" >"$2"; return 0; }
    rm -rf "$dir"
    mkdir -p "$dir/pg_wal/pgvault-spool"
    : >"$dir/recovery.signal"
    chown -R postgres: "$dir"
    chmod 700 "$dir" "$dir/pg_wal/pgvault-spool"
    as_pg bash -c '
        cd "$1" || exit 1; cmd=$2; n=$3
        for ((i = 1; i <= n; i++)); do printf -v f "0000000100000001%08X" "$i"; : >"pg_wal/pgvault-spool/$f"
            [[ $4 == link ]] && ln "pg_wal/pgvault-spool/$f" "pg_wal/$f"; done
        times   # the children so far (the ln of the setup): subtracted
        t0=${EPOCHREALTIME/./}
        for ((i = 1; i <= n; i++)); do
            printf -v f "0000000100000001%08X" "$i"
            c=${cmd//%f/$f}; c=${c//%p/pg_wal/RECOVERYXLOG}; c=${c//%%/%}
            /bin/sh -c "$c" >/dev/null 2>&1; rc=$?
            # Exit 1 on a linked segment: "not in the archive", PostgreSQL reads pg_wal/%f (the same file).
            [[ $rc == 0 || ( $rc == 1 && $4 == link && -f pg_wal/$f ) ]] || { echo "handover $f failed (exit $rc)" >&2; exit 1; }
        done
        t1=${EPOCHREALTIME/./}
        echo "$t0 $t1"
        times   # in this shell (not a pipeline'"'"'s subshell): its own user/sys, then its children'"'"'s
        ' _ "$dir" "$cmd" "$HANDOVERS" "$layout" >"$2.raw" || { echo "0 0 0" >"$2"; rm -rf "$dir"; return 0; }
    # `times` before the loop (2 lines), "t0 t1", `times` after: "0m0.01s 0m0.02s" (the shell), "0m0.512s 0m0.901s"
    # (the children: user, sys); the handovers' CPU is the children's after minus before.
    awk -v n="$HANDOVERS" 'function s(a, b,   u, y) { split(a, u, /[ms]/); split(b, y, /[ms]/); return u[1] * 60 + u[2] + y[1] * 60 + y[2] }
        NR == 2 { c0 = s($1, $2) } NR == 3 { t0 = $1; t1 = $2 } NR == 5 {
        printf "%.3f %.3f %d\n", 1000 * (s($1, $2) - c0) / n, (t1 - t0) / 1000 / n, n }' "$2.raw" >"$2"
    rm -rf "$dir"
}

replay_one() { # TOOL REP BACKUP_ID PGVAULT_DATA_DIRECTORY CONF ASYNC_CONF EXPECTED
    local tool=$1 id=$3 dd=$4 conf=$5 aconf=$6 expect=$7 target=$WORK/replay-restore
    local REP=$2 REPS=$REPLAY_REPS d=$RUNDIR/replay/$1/$2 status=ok
    mkdir -p "$d"
    fresh_dir "$target"
    case $tool in
        pgvault|pgvault-base)
            local where="'--PgVault:DataDirectory=$dd'" cmd
            [[ $REPLAY_S3 == 1 ]] && where="--config '$dd.json'"
            cmd=$(pgvault_cmd)
            if [[ $tool == pgvault-base ]]; then
                [[ -x $PGVAULT_BASE ]] || die "pgvault-base needs PGVAULT_BASE=<a pgvault program>"
                cmd=${cmd/"$PGVAULT"/"$PGVAULT_BASE"}
            fi
            MEASURE_CHECKPOINT=0 measure replay "$tool" bash -c "$cmd restore --backup-id '$id' --to '$target' \
                $where && sync" || status=restore-failed
            ;;
        pgbackrest|pgbackrest-async)
            local c=$conf
            [[ $tool == pgbackrest-async ]] && c=$aconf
            MEASURE_CHECKPOINT=0 measure replay "$tool" setpriv --reuid=postgres --regid=postgres --init-groups -- bash -c \
                "pgbackrest --config='$c' --stanza=bench --pg1-path='$target' --type=default restore && sync" || status=restore-failed
            ;;
        *) die "unknown replay tool $tool" ;;
    esac
    local restore_s
    restore_s=$(tail -1 "$RUNDIR/results.tsv" | cut -d' ' -f5)
    cp "$target/postgresql.auto.conf" "$d/postgresql.auto.conf" 2>/dev/null || true
    local port t1 t2 m0 m1 load inrec="" check=- cpu=0 busy=0 segs=0 redo=0 plog=$WORK/replay-$1-$2.log
    port=$(free_port) || die "no free port"
    if [[ $status == ok ]]; then
        RESTORED=$target
        load=$(cut -d' ' -f1 /proc/loadavg)
        log "replay / $tool (run $REP of $REPLAY_REPS): PostgreSQL on the restored directory, port $port, until pg_is_in_recovery() is false"
        m0=$(machine_ticks); t1=$(now_us)
        # archive_mode off: the restored server must not push WAL into the archives it recovers from.
        as_pg touch "$plog"   # the server's log (postgres cannot write under OUT; copied there afterwards)
        # SSL_CERT_FILE (the S3 server's certificate, when it runs) for pgvault wal-fetch, PostgreSQL's restore_command.
        as_pg env ${S3_CERT:+"SSL_CERT_FILE=$S3_CERT"} "$PG_BIN/pg_ctl" -D "$target" -l "$plog" -W -o \
            "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$WORK -c archive_mode=off" start >/dev/null \
            || status=start-failed
        local deadline=$((SECONDS + REPLAY_TIMEOUT)) startup="" rc_ticks=0 st
        while [[ $status == ok ]]; do
            # The restore_command's CPU: what the startup process waited for (its children's user+sys), sampled until it ends.
            [[ -z $startup ]] && startup=$(startup_pid "$target")
            if [[ -n $startup ]] && st=$(cat "/proc/$startup/stat" 2>/dev/null); then
                rc_ticks=$(awk '{ sub(/^.*\) /, ""); print $14 + $15 }' <<<"$st")
            fi
            inrec=$("$PSQL" -X -At -h 127.0.0.1 -p "$port" -U postgres -d postgres -c "SELECT pg_is_in_recovery()" 2>/dev/null || true)
            [[ $inrec == f ]] && break
            if [[ -z $inrec ]] && ! as_pg "$PG_BIN/pg_ctl" -D "$target" status >/dev/null 2>&1; then
                sleep 1   # the postmaster may not have written its pid file yet
                as_pg "$PG_BIN/pg_ctl" -D "$target" status >/dev/null 2>&1 || { status=server-exited; break; }
            fi
            (( SECONDS < deadline )) || { status=timeout; break; }
            sleep 0.1
        done
        t2=$(now_us); m1=$(machine_ticks)
        if [[ $status == ok ]]; then
            sleep 0.5   # the startup process (and its restore_command children) reaped: their CPU is in the postmaster's
            cpu=$(awk -v t="$(pg_ticks "$target")" -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", t / hz }')
            local got
            got=$("$PSQL" -X -At -h 127.0.0.1 -p "$port" -U postgres -d bench \
                -c "SELECT (SELECT count(*) FROM pgbench_history) || '/' || (SELECT sum(abalance) FROM pgbench_accounts)" 2>&1 || true)
            if [[ $got == "$expect" ]]; then check=same; else check=DIFFERENT; log "  restored data differ: $got, primary $expect"; fi
        else
            log "  $tool: $status; log: $(tail -3 "$plog" 2>/dev/null | tr '\n' ' ')"
        fi
        as_pg "$PG_BIN/pg_ctl" -D "$target" -m immediate -w -t 60 stop >/dev/null 2>&1 || true
        RESTORED=""
        # pgvault's fetch agent ends once the server is gone (it looks every 0.25 s) and logs its CPU: waited for (bounded).
        local spool_wait=$((SECONDS + 15))
        while [[ -d $target/pg_wal/pgvault-spool ]] && (( SECONDS < spool_wait )); do sleep 0.1; done
        [[ -d $target/pg_wal/pgvault-spool ]] && log "  $tool: pgvault-spool still there 15 s after the server stopped"
        cp "$plog" "$d/postgres.log" 2>/dev/null || : >"$d/postgres.log"
        busy=$(awk -v a="$m0" -v b="$m1" -v n="$NCPU" 'BEGIN { split(a, x, " "); split(b, y, " ");
            printf "%.0f", ((y[2] - x[2]) > 0 ? 100 * n * (y[1] - x[1]) / (y[2] - x[2]) : 0) }')
        segs=$(grep -c 'restored log file' "$d/postgres.log" || true)
        # Segments PostgreSQL read from their links in pg_wal (the agent's handover without mv) log no "restored" line.
        local linked
        linked=$(sed -n 's/^pgvault wal-fetch agent: .*(\([0-9]*\) segments read from pg_wal, .*/\1/p' "$d/postgres.log" | awk '{ s += $1 } END { print s + 0 }')
        segs=$((segs + linked))
        # WAL replayed by this server: from "redo starts at" to "redo done at" (LSN arithmetic on the primary).
        local from to
        from=$(sed -n 's/.*redo starts at \([0-9A-F]*\/[0-9A-F]*\).*/\1/p' "$d/postgres.log" | head -1)
        to=$(sed -n 's/.*redo done at \([0-9A-F]*\/[0-9A-F]*\).*/\1/p' "$d/postgres.log" | head -1)
        redo=0
        [[ -n $from && -n $to ]] && redo=$(pgq "SELECT '$to'::pg_lsn - '$from'::pg_lsn")
        grep -E 'redo starts|redo done|last completed transaction|selected new timeline|archive recovery complete|database system is ready|consistent recovery state' \
            "$d/postgres.log" >"$d/recovery-summary.txt" || true
        # The split: replay = server start to "redo done" (its log's timestamp), promotion = "redo done" to not in recovery.
        local done_us rc_cpu agent_cpu=0 runs handed answered=0 restore_cpu
        done_us=$(log_time_us "$(grep -m1 'redo done at' "$d/postgres.log" || true)")
        rc_cpu=$(awk -v t="$rc_ticks" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", t / hz }')
        restore_cpu=$(tail -1 "$RUNDIR/results.tsv" | cut -d' ' -f6)
        runs=0; handed=0
        if [[ $tool == pgvault* ]]; then
            agent_cpu=$(sed -n 's/^pgvault wal-fetch agent: .*, \([0-9.]*\) CPU s)$/\1/p' "$d/postgres.log" | awk '{ s += $1 } END { printf "%.2f", s }')
            runs=$(grep -c '^pgvault wal-fetch: ' "$d/postgres.log" || true)   # each a process start (the agent's lines differ)
            handed=$((segs - $(grep -c '^pgvault wal-fetch: .*: restored' "$d/postgres.log" || true)))
            answered=$(sed -n 's/^pgvault wal-fetch agent: .*fetched ahead, \([0-9]*\) requests answered.*/\1/p' "$d/postgres.log" | awk '{ s += $1 } END { print s + 0 }')
        fi
        awk -v t1="$t1" -v t2="$t2" -v r="$restore_s" -v tool="$tool" -v rep="$REP" -v st="$status" -v cpu="$cpu" -v busy="$busy" \
            -v segs="$segs" -v check="$check" -v load="$load" -v redo="$redo" -v done="${done_us:-0}" -v rc="$rc_cpu" -v ag="$agent_cpu" \
            -v runs="$runs" -v handed="$handed" -v rcpu="${restore_cpu:-0}" -v ans="$answered" 'BEGIN {
            s = (t2 - t1) / 1e6; rp = done > t1 ? (done - t1) / 1e6 : s; pr = s - rp
            printf "%s %s %s %.3f %.3f %.3f %s %s %d %s %s %s %.3f %.3f %s %s %d %d %s %d\n", tool, rep, st, r, s, r + s, cpu, busy, segs, check, load, redo,
                rp, pr, rc, ag, runs, handed, rcpu, ans }' \
            >>"$RUNDIR/replay/replay.tsv"
        log "  $status: restore $restore_s s, start to promoted $(awk -v t1="$t1" -v t2="$t2" 'BEGIN { printf "%.1f", (t2 - t1) / 1e6 }') s, $segs WAL files restored, data $check"
    else
        echo "$tool $REP $status $restore_s 0 0 0 0 0 - - 0 0 0 0 0 0 0 0 0" >>"$RUNDIR/replay/replay.tsv"
    fi
    if [[ $tool == pgvault* && $REP == 1 && -f $d/postgresql.auto.conf ]]; then
        handover_cost "$d/postgresql.auto.conf" "$RUNDIR/replay/handover-$tool.txt" link
        handover_cost "$d/postgresql.auto.conf" "$RUNDIR/replay/handover-$tool-mv.txt" spool
    fi
    rm -rf "$target"
    # pgvault's wal-fetch (since its prefetch) spools segments fetched ahead in the temp directory, per backup id.
    [[ $tool == pgvault* ]] && rm -rf "/tmp/pgvault-prefetch/$id"
    return 0
}

# ------------------------------------------------------------------------------------------------------------- main
if (( ! REPORT_ONLY )); then
: >"$RUNDIR/results.tsv"
: >"$RUNDIR/datasets.tsv"
: >"$RUNDIR/repos.tsv"
: >"$RUNDIR/restored.tsv"
for ds in $DATASETS; do
    make_dataset "$ds"
    prepare_backups "$ds"
    # Round robin: each repetition runs every tool once, so slow drifts of the machine's other load hit all tools alike.
    for ((REP = 1; REP <= REPS; REP++)); do
        for tool in $TOOLS; do
            [[ $tool == none ]] || run_restore "$ds" "$tool"
        done
    done
    if [[ $KEEP != 1 ]]; then   # KEEP=1: the repositories stay too (to profile a restore by hand afterwards)
        rm -rf "$WORK"/pgvault*-"$ds" "$WORK"/pgvault*-"$ds".json "$WORK"/pgbackrest-*-repo
        if [[ -n $S3_DIR ]]; then for t in pgvault-s3 pgvault-s3-enc pgbackrest-s3; do s3_rm "$t"; done; fi
    fi
    [[ $REPLAY == 1 && $ds == "$REPLAY_DATASET" ]] && run_replay
done
echo "$(($(date +%s) - STARTED))" >"$RUNDIR/total-seconds.txt"
fi

# ----------------------------------------------------------------------------------------------------------- report
# One line per dataset and tool over its repetitions: medians of wall, CPU, other load; maxima of the RSS.
# "ds tool status runs wall_med wall_min wall_max cpu other load maxrss_kB tree_kB restored_B files"
summarize() {
    awk '
        function med(str,   n, a, i, j, x) { n = split(str, a, " "); for (i = 2; i <= n; i++) { x = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
                                             return n == 0 ? 0 : (n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2) }
        FNR == NR { k = $1 " " $2; rb[k] = rb[k] " " $4; fl[k] = fl[k] " " $5; next }
        { k = $1 " " $2
          if (!(k in runs)) order[++nk] = k
          runs[k]++
          if ($4 == "ok") { ok[k]++; wall[k] = wall[k] " " $5; cpu[k] = cpu[k] " " $6
                            if (!(k in wmin) || $5 < wmin[k]) wmin[k] = $5; if ($5 > wmax[k]) wmax[k] = $5 }
          else bad[k] = bad[k] " run" $3 ":" $4
          oth[k] = oth[k] " " $8; ld[k] = ld[k] " " $9
          if ($10 > mrss[k]) mrss[k] = $10; if ($11 > tree[k]) tree[k] = $11 }
        END { for (i = 1; i <= nk; i++) { k = order[i]
                st = (ok[k] == runs[k]) ? "ok" : (ok[k] > 0 ? "partly-failed" : "FAILED") substr(bad[k], 1)
                gsub(/ /, "", st)
                printf "%s %s %d %.3f %.3f %.3f %.2f %.0f %.2f %d %d %.0f %.0f\n", k, st, runs[k], med(wall[k]), wmin[k], wmax[k],
                    med(cpu[k]), med(oth[k]), med(ld[k]), mrss[k], tree[k], med(rb[k]), med(fl[k]) } }
    ' "$RUNDIR/restored.tsv" "$RUNDIR/results.tsv" >"$RUNDIR/summary.tsv"
}

PGBR_VERSION=$(pgbackrest version 2>/dev/null | awk '{ print $2 }')
report() {
    echo "== PgVault restore benchmark (bench/restore/run.sh$( ((QUICK)) && echo ' --quick')) =="
    echo "date:     $(date -u -r "$RUNDIR/results.tsv" +%Y-%m-%dT%H:%M:%SZ) (end of the measurements)"
    echo "machine:  $NCPU CPUs (nproc), $(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)," \
         "$(awk '/MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r), $(df -T /tmp | awk 'NR == 2 { print $2 }') on /tmp"
    echo "software: pgvault $(cat "$OUT/pgvault.rev" 2>/dev/null || echo '?') (Release, .NET $(dotnet --list-runtimes 2>/dev/null | awk '/Microsoft.NETCore.App/ { v = $2 } END { print v }'))," \
         "pgBackRest $PGBR_VERSION, $("$PG_BIN/postgres" --version | sed 's/ (Debian.*//')"
    echo "settings: backups with zstd level $LEVEL (PgVault Engine:CompressionLevel, pgBackRest compress-level) and lz4 level 1 (pgBackRest);"
    echo "          pgBackRest process-max=$WORKERS; every restore into an empty directory on /tmp, then \`sync\` (in the time);"
    echo "          repositories and data directory in the page cache; data checksums $([[ $CHECKSUMS == 1 ]] && echo on || echo off);"
    echo "          $REPS run(s) of every tool per dataset, round robin: medians (wall: median and min-max), RSS: the largest of the runs"
    echo "target:   PgVault restore MB/s >= ${TARGET_SPEED}x pgBackRest's (zst)"
    if [[ " $TOOLS " == *-s3[\ -]* || " $TOOLS " == *-enc\ * ]]; then
        echo "          S3: pgvault-s3 >= ${TARGET_S3_SPEED}x pgbackrest-s3's MB/s; encryption (pgvault-s3-enc, pgvault-enc) costs <= $TARGET_ENC_COST % of the MB/s"
        echo "S3:       one s3rver 3.7.1 (tests/tools/s3-server.js, node $(node --version 2>/dev/null)) on 127.0.0.1 over HTTPS (self-signed"
        echo "          certificate: pgBackRest repo1-storage-verify-tls=n, PgVault trusts it through SSL_CERT_FILE), path-style,"
        echo "          objects on the same /tmp filesystem (in the page cache); pgBackRest process-max=$WORKERS"
    fi
    local ds
    for ds in $DATASETS; do
        echo
        awk -v ds="$ds" '$1 == ds { printf "-- dataset %s: %.0f MB (data directory without pg_wal), zstd -3: %.0f MB, ratio %.2f (%d %% compressible); made in %d s --\n", ds, $2 / 1e6, $3 / 1e6, $4, $5, $6 }' "$RUNDIR/datasets.tsv"
        awk -v ds="$ds" -v dbb="$(awk -v ds="$ds" '$1 == ds { print $2 }' "$RUNDIR/datasets.tsv")" '
            FNR == NR { if ($1 == ds) repo[$2] = $3; next }
            $1 == ds { n++; tool[n] = $2; st[$2] = $3; wall[$2] = $5; wmin[$2] = $6; wmax[$2] = $7; cpu[$2] = $8
                       other[$2] = $9; load[$2] = $10; maxrss[$2] = $11 / 1024; tree[$2] = $12 / 1024; rb[$2] = $13; files[$2] = $14
                       mbs[$2] = $5 > 0 ? dbb / 1e6 / $5 : 0 }
            END {
                printf "%-15s %7s %13s %8s %13s %13s %6s %8s %8s %6s %6s %5s  %s\n", "tool", "wall s", "(min-max)", "MB/s", "repository B",
                    "restored B", "files", "RSS tree", "RSS max1", "CPU s", "other", "load", "PgVault speed ratio"
                for (i = 1; i <= n; i++) {
                    t = tool[i]
                    r = (t !~ /^pgvault/ && mbs["pgvault"] > 0 && mbs[t] > 0) ? sprintf("%.2f", mbs["pgvault"] / mbs[t]) : ""
                    f = st[t] == "ok" ? "" : "  " st[t]
                    printf "%-15s %7.1f %13s %8.1f %13s %13.0f %6d %5.0f MB %5.0f MB %6.1f %5d%% %5.2f  %s%s\n", t, wall[t],
                        sprintf("(%.1f-%.1f)", wmin[t], wmax[t]), mbs[t], (t in repo) ? repo[t] : "-", rb[t], files[t], tree[t], maxrss[t],
                        cpu[t], other[t], load[t], r, f
                }
            }' "$RUNDIR/repos.tsv" "$RUNDIR/summary.tsv"
        s3_report "$ds" "$RUNDIR/summary.tsv" 8
    done
    echo
    echo "columns: wall s = median wall seconds of restore + sync (min-max over the runs); MB/s = database bytes (above) /"
    echo "  median wall seconds; repository B = the backup's repository (PgVault: repository/ of its data directory, base"
    echo "  backup and the WAL of the backup; pgBackRest: repo1-path, backup set and archive); restored B = the restored"
    echo "  directory without pg_wal (median), files = its regular files; RSS tree = the largest sum of VmRSS over the tool's"
    echo "  process tree in one 0.2 s sample; RSS max1 = /usr/bin/time -v's maximum resident set size (largest single"
    echo "  process, not a sum); CPU s = user+sys of the tool and its waited-for children (time -v); other = CPU of everything"
    echo "  else on the machine during the run, % of one core; load = 1-min load average before the run"
    if [[ $REPLAY == 1 && -f $RUNDIR/replay/meta.sh ]]; then
        local REPLAY_WAL_BYTES=0 REPLAY_EXPECT="" REPLAY_PGV_WAL=0 REPLAY_PGBR_WAL=0 REPLAY_FROM="" REPLAY_TO="" REPLAY_ID=""
        # shellcheck disable=SC1091
        source "$RUNDIR/replay/meta.sh"
        echo
        echo "-- replay: time to a promoted server after $REPLAY_SECONDS s of pgbench -c $REPLAY_CLIENTS -j 2 on dataset $REPLAY_DATASET$([[ ${REPLAY_S3:-0} == 1 ]] && echo ', both archives on the S3 server') --"
        echo "pgbench: $(grep -E '^tps' "$RUNDIR/replay/pgbench-summary.txt" | head -1 | sed 's/ (without initial connection time)//'); load before: $(awk -F'load average: ' '{ print $2 }' "$RUNDIR/replay/uptime-pgbench.txt")"
        awk -v w="$REPLAY_WAL_BYTES" -v a="$REPLAY_PGV_WAL" -v b="$REPLAY_PGBR_WAL" -v f="$REPLAY_FROM" -v t="$REPLAY_TO" 'BEGIN {
            printf "WAL written: %.0f MB (%s to %s); stored compressed: pgvault %.0f MB (chain wal/), pgBackRest %.0f MB (archive/, zst)\n", w / 1e6, f, t, a / 1e6, b / 1e6 }'
        echo "restored data checked against the primary: count(pgbench_history)/sum(pgbench_accounts.abalance) = $REPLAY_EXPECT"
        awk '
            function med(str,   n, a, i, j, x) { n = split(str, a, " "); for (i = 2; i <= n; i++) { x = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
                                                 return n == 0 ? 0 : (n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2) }
            { t = $1; if (!(t in runs)) order[++n] = t; runs[t]++
              if ($3 == "ok") { ok[t]++; rs[t] = rs[t] " " $4; pr[t] = pr[t] " " $5; tot[t] = tot[t] " " $6; cpu[t] = cpu[t] " " $7; busy[t] = busy[t] " " $8; seg[t] = $9; ld[t] = ld[t] " " $11; redo[t] = $12
                                rp[t] = rp[t] " " $13; pm[t] = pm[t] " " $14 }
              else bad[t] = bad[t] " run" $2 ":" $3
              if ($10 != "same" && $3 == "ok") chk[t] = chk[t] " run" $2 ":" $10 }
            END {
                printf "%-17s %9s %9s %9s %9s %9s %9s %10s %7s %6s %5s  %s\n", "tool", "restore s", "replay s", "promote s", "total s", "WAL MB", "WAL MB/s", "replay CPU", "busy", "files", "load", "data"
                for (i = 1; i <= n; i++) { t = order[i]
                    p = med(pr[t])
                    st = ok[t] == runs[t] ? "" : "  FAILED" bad[t]
                    printf "%-17s %9.1f %9.1f %9.1f %9.1f %9.0f %9.1f %8.1f s %6.0f%% %6d %5.2f  %s%s\n", t, med(rs[t]), med(rp[t]), med(pm[t]), med(tot[t]), redo[t] / 1e6,
                        (p > 0 ? redo[t] / 1e6 / p : 0), med(cpu[t]), med(busy[t]), seg[t], med(ld[t]),
                        (chk[t] == "" ? (ok[t] ? "same as the primary" : "-") : "DIFFERENT" chk[t]), st
                    if (t != "pgvault" && ("pgvault" in ok) && ok[t] && ok["pgvault"])
                        ratio[t] = sprintf("%.2f", med(tot[t]) / med(tot["pgvault"]))
                }
                s = ""; for (t in ratio) s = s sprintf("%s %sx  ", t, ratio[t])
                if (s != "") print "total time of each tool / PgVault'"'"'s (above 1: PgVault promoted sooner): " s
            }' "$RUNDIR/replay/replay.tsv"
        # PgVault's own CPU during recovery: its agent (its log line) and the restore_command (the startup process's children).
        local pt
        for pt in $(awk '$1 ~ /^pgvault/ && !seen[$1]++ { print $1 }' "$RUNDIR/replay/replay.tsv"); do
        awk -v hf="$RUNDIR/replay/handover-$pt.txt" -v pt="$pt" '
            function med(str,   n, a, i, j, x) { n = split(str, a, " "); for (i = 2; i <= n; i++) { x = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
                                                 return n == 0 ? 0 : (n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2) }
            $1 == pt && $3 == "ok" { ag = ag " " $16; rc = rc " " $15; runs = runs " " $17; hd = hd " " $18; rcpu = rcpu " " $19; ans = ans " " $20; redo = $12; k++ }
            END {
                if (!k) exit
                gb = redo / 1e9; a = med(ag); r = med(rc)
                printf "%s CPU (median of %d): restore %.1f s; recovery %.2f s = fetch agent %.2f s + restore_command %.2f s (%d pgvault processes started, %d files handed over from the spool, %d of them waited for) = %.2f CPU-s per GB of WAL replayed\n",
                    pt, k, med(rcpu), a + r, a, r, med(runs), med(hd), med(ans), (gb > 0 ? (a + r) / gb : 0)
                if ((getline line < hf) > 0) { split(line, h, " "); printf "handover of a spooled segment: %.2f ms CPU, %.2f ms wall (restore_command run %d times on a full spool, segments linked into pg_wal)\n", h[1], h[2], h[3] }
                mf = hf; sub(/\.txt$/, "-mv.txt", mf); if ((getline line < mf) > 0) { split(line, h, " "); printf "handover by mv (spool only): %.2f ms CPU, %.2f ms wall\n", h[1], h[2] }
            }' "$RUNDIR/replay/replay.tsv"
        done
        echo "columns: restore s = restore + sync (median of $REPLAY_REPS run(s)); replay s = from pg_ctl start to the server's \"redo done\""
        echo "  (its log's timestamp); promote s = from then to the first pg_is_in_recovery() = false (polled every 0.1 s: end-of-recovery"
        echo "  checkpoint, timeline history lookups, promotion); total = all three; WAL MB = WAL replayed (the server's \"redo starts at\" to"
        echo "  \"redo done at\": each tool's base backup starts at its own LSN); WAL MB/s = WAL MB / (replay + promote s); replay CPU ="
        echo "  CPU of the restored server's processes and their restore_command children, startup to promotion (not counted:"
        echo "  processes that detach from the server: pgbackrest-async's archive-get, pgvault's fetch agent, counted apart above); busy = whole"
        echo "  machine during that time, % of one core; files = WAL files PostgreSQL restored (\"restored log file\" lines);"
        echo "  data = count(pgbench_history)/sum(abalance) of the promoted server compared with the primary's after pgbench"
    fi
}

verdicts() {
    local ds ok=1
    echo
    for ds in $DATASETS; do
        s3_verdicts "$ds" "$RUNDIR/summary.tsv" "$TARGET_S3_SPEED" "$TARGET_ENC_COST" "restore" || ok=0
        # The local comparison (pgvault against pgbackrest-zst) when either is among the tools.
        awk -v ds="$ds" '$1 == ds && ($2 == "pgvault" || $2 == "pgbackrest-zst") { f = 1 } END { exit !f }' "$RUNDIR/summary.tsv" || continue
        awk -v ds="$ds" -v ts="$TARGET_SPEED" '
            $1 == ds { st[$2] = $3; wall[$2] = $5 }
            END {
                if (st["pgvault"] != "ok" || st["pgbackrest-zst"] != "ok") { print "verdict (" ds "): FAIL (pgvault or pgbackrest-zst did not complete every run)"; exit 1 }
                s = wall["pgbackrest-zst"] / wall["pgvault"]; v = s >= ts ? "PASS" : "FAIL"
                lz = (st["pgbackrest-lz4"] == "ok" && wall["pgvault"] > 0) ? sprintf(" (%.2fx pgBackRest lz4)", wall["pgbackrest-lz4"] / wall["pgvault"]) : ""
                printf "verdict (%s): restore speed %.2fx pgBackRest zst%s (target >= %.2f) %s\n", ds, s, lz, ts, v
                exit v == "PASS" ? 0 : 1
            }' "$RUNDIR/summary.tsv" || ok=0
    done
    if [[ $REPLAY == 1 ]]; then
        if [[ ! -s $RUNDIR/replay/replay.tsv ]]; then
            echo "verdict (replay): FAIL (no replay measured)"; ok=0
        else
            awk '{ if ($3 != "ok" || $10 != "same") bad = bad " " $1 " run " $2 ": " ($3 != "ok" ? $3 : "data " $10) ";" }
                 END { if (bad == "") print "verdict (replay): every restored server promoted with the primary'"'"'s data"
                       else { print "verdict (replay): FAIL" bad; exit 1 } }' "$RUNDIR/replay/replay.tsv" || ok=0
            local where=local target=$TARGET_RTO_LOCAL
            [[ ${REPLAY_S3:-0} == 1 ]] && { where=S3; target=$TARGET_RTO_S3; }
            awk -v where="$where" -v tgt="$target" -v th="$TARGET_HANDOVER_MS" -v hf="$RUNDIR/replay/handover-pgvault.txt" '
                function med(str,   n, a, i, j, x) { n = split(str, a, " "); for (i = 2; i <= n; i++) { x = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
                                                     return n == 0 ? 0 : (n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2) }
                $3 == "ok" { tot[$1] = tot[$1] " " $6; ld[$1] = ld[$1] " " $11 }
                END {
                    fail = 0
                    if (!("pgvault" in tot) || !("pgbackrest-async" in tot)) print "verdict (RTO, " where "): not measured (pgvault and pgbackrest-async are both needed in REPLAY_TOOLS)"
                    else {
                        p = med(tot["pgvault"]); a = med(tot["pgbackrest-async"]); r = p / a; v = r <= tgt ? "PASS" : "FAIL"; fail = v == "FAIL"
                        sy = ("pgbackrest" in tot) ? sprintf("; %.2fx pgBackRest synchronous (%.1f s)", p / med(tot["pgbackrest"]), med(tot["pgbackrest"])) : ""
                        printf "verdict (RTO, %s): pgvault %.1f s = %.2fx pgBackRest asynchronous (%.1f s), target <= %.1fx %s%s; load %.2f\n", where, p, r, a, tgt, v, sy, med(ld["pgvault"])
                    }
                    if ((getline line < hf) > 0) { split(line, h, " "); v = (h[3] > 0 && h[1] <= th) ? "PASS" : "FAIL"; fail = fail || v == "FAIL"
                        printf "verdict (handover): %.2f ms CPU per spooled segment handed over, target <= %d ms %s\n", h[1], th, v }
                    exit fail
                }' "$RUNDIR/replay/replay.tsv" || ok=0
        fi
    fi
    echo "total time: $(cat "$RUNDIR/total-seconds.txt" 2>/dev/null || echo '?') s; raw outputs: ${RUNDIR#"$ROOT"/}/<dataset>/<tool>/<run>/, ${RUNDIR#"$ROOT"/}/replay/"
    return $((1 - ok))
}

status=0
summarize
{ report; verdicts || echo "OVERALL: targets missed"; } | tee "$OUT/results.txt"
grep -q 'FAIL' "$OUT/results.txt" && status=2
exit "$status"
