#!/usr/bin/env bash
# PgVault incremental base backups against pgBackRest's incr and diff (file level in 2.45), side by side in one run.
#
#   bash bench/incremental/run.sh            (from the repository root; see bench/README.md)
#   bash bench/incremental/run.sh --quick    (scale 10, 15 s of pgbench: a check that everything works)
#
# One throwaway PostgreSQL 15 cluster (initdb in /tmp, as the postgres user), `pgbench -i -s SCALE` (vacuumed, frozen).
#   pgvault     `pgvault serve` streams the WAL (its default mode of operation); base backups are asked for through
#               POST /clusters/{id}/backups?type=full|incr|diff and followed to AVAILABLE. Its first base backup (the
#               backup's first, a typed full one) is the full one measured.
#   pgbackrest  archive-push as archive_command; `pgbackrest backup --type=full|incr|diff` (zst at LEVEL, process-max=2).
# Steps, each followed by a base backup of both tools (the order alternates between steps):
#   full        after the dataset
#   A           pgbench -c 4 -j 2 -T A_SECONDS (60)                         then incr
#   B           UPDATE of 1 % of pgbench_accounts rows, one contiguous aid range  then incr
#   C1..C4      pgbench -c 4 -j 2 -T C_SECONDS (10)                         then incr   (a chain of full + 6 incr)
#   restore     of the newest incr (full + 6 incr) by both tools into an empty directory, then sync
#   diff        both tools' diff (all changes since the full)
# Before each incremental base backup: a CHECKPOINT, then the pages whose LSN is newer than PgVault's reference base
# backup's start are counted (changed_blocks.py) and compressed with zstd at PgVault's level: "changed" and its bytes.
# Printed per step and tool: stored bytes, wall s, CPU s (tool; for pgvault the serve process's, WAL streaming included),
# PostgreSQL CPU s, peak RSS (pgvault: serve's VmHWM so far), changed blocks; then the targets of issue 15.
#
# Knobs: SCALE=100 A_SECONDS=60 C_SECONDS=10 LEVEL=3 (pgBackRest zst) PGVAULT_LEVEL=default
#   (fulls; 1) PGVAULT_INCR_LEVEL=default (an incr/diff's changed blocks; 6, Engine:IncrementalCompressionLevel) REV=HEAD SKIP_BUILD=0
#   PG_BIN=/usr/lib/postgresql/15/bin KEEP=0 OUT=bench/incremental/out QUIET_WAIT=10
# Exit status: 0 every target met, 2 a target missed, anything else: the benchmark broke.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
QUICK=0
for a in "$@"; do
    case $a in
        --quick) QUICK=1 ;;
        -h|--help) sed -n '2,27p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "unknown argument $a" >&2; exit 1 ;;
    esac
done
if (( QUICK )); then
    SCALE=${SCALE:-10}; A_SECONDS=${A_SECONDS:-15}; C_SECONDS=${C_SECONDS:-5}; QUIET_WAIT=${QUIET_WAIT:-3}
fi
OUT=${OUT:-$HERE/out}
SCALE=${SCALE:-100}
A_SECONDS=${A_SECONDS:-60}
C_SECONDS=${C_SECONDS:-10}
LEVEL=${LEVEL:-3}
PGVAULT_LEVEL=${PGVAULT_LEVEL:-default}
PGVAULT_INCR_LEVEL=${PGVAULT_INCR_LEVEL:-default}
REV=${REV-HEAD}
SKIP_BUILD=${SKIP_BUILD:-0}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
CHECKSUMS=0
QUIET_WAIT=${QUIET_WAIT:-10}
KEEP=${KEEP:-0}
REP=1
REPS=1
WORKERS=2
CLUSTER_ID=5b0c2f7e-8a41-4d6b-9c3e-0f1a2b3c4d5e
TARGET_A=0.35        # stored bytes, pgvault incr / pgbackrest incr, workload A
TARGET_B=0.05        # the same, workload B
TARGET_CHANGED=2     # pgvault incr stored / zstd of the changed blocks
TARGET_WALL=0.5      # pgvault incr wall / pgbackrest incr wall
TARGET_RESTORE=1.3   # pgbackrest restore wall / pgvault restore wall (full + 6 incr)
TARGET_RSS_MB=300
PGVAULT=$OUT/pgvault/pgvault
RUNDIR=$OUT/run
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
STARTED=$(date +%s)
# shellcheck source=../lib.sh
source "$ROOT/bench/lib.sh"
[[ $(id -u) == 0 ]] || die "run as root (PostgreSQL and pgBackRest run as the postgres user through setpriv)"
need_tools
command -v curl >/dev/null || die "curl is needed"
command -v python3 >/dev/null || die "python3 is needed (changed_blocks.py)"

WORK=""; PGDATA=""; PGPORT=""; SERVE_PID=""; BENCH_PID=""; SAMPLER_PID=""
cleanup() {
    set +e
    stop_pid "$SAMPLER_PID"
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

mkdir -p "$OUT"
build_pgvault
rm -rf "$RUNDIR"
mkdir -p "$RUNDIR"
start_cluster pgvault-bench-incremental
make_dataset pgbench
# Autovacuum stays off (lib.sh): the changes are the workloads' own.
: >"$RUNDIR/steps.tsv"   # step tool type stored_bytes wall_s cpu_s pg_cpu_s rss_kB changed_blocks total_blocks changed_zstd_bytes

# ---------------------------------------------------------------------------------------------------------- pgBackRest
BR_CONF=$WORK/pgbackrest.conf
BR_REPO=$WORK/pgbackrest-repo
pgbackrest_conf "$BR_CONF" "$BR_REPO" zst "$LEVEL"
pgbackrest_archiving "$BR_CONF" "$RUNDIR/pgbackrest"
br_newest() { find "$BR_REPO/backup/bench" -mindepth 1 -maxdepth 1 -type d -name '2*' -printf '%T@ %p\n' | sort -n | tail -1 | cut -d' ' -f2; }

br_backup() { # STEP TYPE
    local step=$1 type=$2
    MEASURE_CHECKPOINT=0 measure "$step" "pgbackrest-$type" setpriv --reuid=postgres --regid=postgres --init-groups -- \
        pgbackrest --config="$BR_CONF" --stanza=bench backup --type="$type" || die "pgbackrest backup --type=$type failed"
    local dir stored r
    dir=$(br_newest)
    stored=$(du -sb "$dir" | cut -f1)
    r=$(tail -1 "$RUNDIR/results.tsv")
    # results.tsv: ds tool rep status wall_s tool_cpu_s pg_cpu_s other_pct load1 time_maxrss_kB tree_peak_kB top_hwm_kB top_name
    awk -v s="$step" -v t="$type" -v b="$stored" -v c="$CHANGED" '{ print s, "pgbackrest", t, b, $5, $6, $7, $11, c }' <<<"$r" >>"$RUNDIR/steps.tsv"
    log "  pgbackrest $type $(basename "$dir"): $stored bytes stored"
}

# ------------------------------------------------------------------------------------------------------------- PgVault
SERVE_DIR=$WORK/pgvault
# The restored server's wal-fetch runs as postgres and reads the repository and this configuration: shared with
# PostgreSQL's group, as docs/SECURITY.md says (restore refuses a repository postgres cannot read).
mkdir -p "$SERVE_DIR/repository"
chgrp postgres "$SERVE_DIR" "$SERVE_DIR/repository"
chmod 2750 "$SERVE_DIR" "$SERVE_DIR/repository"
TOKEN_OUT=$("$PGVAULT" token create --name bench)
TOKEN=$(awk '/^token: / { print $2 }' <<<"$TOKEN_OUT")
TOKEN_ENTRY=$(grep '^{' <<<"$TOKEN_OUT")
[[ $TOKEN == pgv_* ]] || die "unexpected output of 'pgvault token create': $TOKEN_OUT"
PORT=$(free_port) || die "no free port"
level=""
[[ $PGVAULT_LEVEL == default ]] || level="\"CompressionLevel\": $PGVAULT_LEVEL, "
[[ $PGVAULT_INCR_LEVEL == default ]] || level+="\"IncrementalCompressionLevel\": $PGVAULT_INCR_LEVEL, "
cat >"$SERVE_DIR.json" <<JSON
{
  "PgVault": {
    "DataDirectory": "$SERVE_DIR",
    "GroupAccess": true,
    "Clusters": [ { "Id": "$CLUSTER_ID", "ConnectionString": "Host=127.0.0.1;Port=$PGPORT;Username=postgres",
                    "FullBackupSchedule": "0 0 1 1 *", "IncrementalBackupSchedule": "" } ],
    "Tokens": [ $TOKEN_ENTRY ],
    "RateLimit": { "PermitsPerSecond": 0 },
    "Engine": { $level"CompressionWorkers": $WORKERS, "PostgresBinDirectory": "$PG_BIN", "ExpirySchedule": "" }
  }
}
JSON
chgrp postgres "$SERVE_DIR.json"
chmod 640 "$SERVE_DIR.json"
API=http://127.0.0.1:$PORT
api() { curl -sS -H "Authorization: Bearer $TOKEN" "$@"; }
serve_ticks() { awk '{ sub(/^.*\) /, ""); split($0, f, " "); print f[12] + f[13] }' "/proc/$SERVE_PID/stat"; }
serve_hwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$SERVE_PID/status"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# Follows a base backup (by its Location) until it is AVAILABLE; prints "label stored_bytes duration_s".
pv_follow() { # LOCATION
    local deadline=$((SECONDS + 7200)) body state
    while :; do
        body=$(api "$API$1")
        state=$(json 'd["metadata"]["state"]' <<<"$body")
        [[ $state == AVAILABLE ]] && break
        [[ $state == FAILED ]] && die "pgvault base backup failed: $body"
        (( SECONDS < deadline )) || die "pgvault base backup not done after 2 hours"
        sleep 0.2
    done
    json 'd["id"], d["properties"]["storedBytes"], d["properties"]["durationSeconds"], d["properties"]["type"]' <<<"$body" | tr -d "(),'"
}

pv_backup() { # STEP TYPE
    local step=$1 type=$2 t0 c0 p0 headers location out label stored seconds taken c1 p1
    wait_quiet
    c0=$(serve_ticks); p0=$(pg_ticks); t0=$(now_us)
    headers=$(api -D - -o /dev/null -X POST "$API/clusters/$CLUSTER_ID/backups?type=$type")
    location=$(awk 'tolower($1) == "location:" { print $2 }' <<<"$headers" | tr -d '\r')
    [[ -n $location ]] || die "POST /clusters/$CLUSTER_ID/backups?type=$type: $headers"
    out=$(pv_follow "$location")
    c1=$(serve_ticks); p1=$(pg_ticks)
    read -r label stored seconds taken <<<"$out"
    [[ $taken == "$type" ]] || log "  WARNING: pgvault took a $taken base backup, not $type"
    awk -v s="$step" -v t="$type" -v b="$stored" -v w="$seconds" -v c0="$c0" -v c1="$c1" -v p0="$p0" -v p1="$p1" -v hz="$CLK_TCK" \
        -v rss="$(serve_hwm)" -v c="$CHANGED" 'BEGIN { printf "%s pgvault %s %s %.3f %.2f %.2f %d %s\n", s, t, b, w, (c1 - c0) / hz, (p1 - p0) / hz, rss, c }' \
        >>"$RUNDIR/steps.tsv"
    log "  pgvault $type $label: $stored bytes stored in $seconds s"
    PV_LABEL=$label
}

"$PGVAULT" serve --urls "$API" --config "$SERVE_DIR.json" >"$RUNDIR/serve.log" 2>&1 &
SERVE_PID=$!
log "pgvault serve on $API; its first base backup is the full one"
t0=$(now_us)
deadline=$((SECONDS + 7200))
CHANGED="- - -"
while :; do
    kill -0 "$SERVE_PID" 2>/dev/null || { tail -20 "$RUNDIR/serve.log" >&2; die "pgvault serve exited"; }
    BACKUP_ID=$(api "$API/clusters/$CLUSTER_ID/backups" 2>/dev/null | json 'd["items"][0]["id"] if d.get("items") else ""' 2>/dev/null || true)
    if [[ -n $BACKUP_ID ]]; then
        first=$(api "$API/clusters/backups/$BACKUP_ID/basebackups" | json 'd["items"][-1]["metadata"]["state"] if d["items"] else ""' 2>/dev/null || true)
        [[ $first == AVAILABLE ]] && break
        [[ $first == FAILED ]] && die "pgvault's first base backup failed (log: $RUNDIR/serve.log)"
    fi
    (( SECONDS < deadline )) || die "no base backup after 2 hours"
    sleep 0.5
done
read -r label stored seconds _ <<<"$(pv_follow "/clusters/backups/$BACKUP_ID/basebackups/$(api "$API/clusters/backups/$BACKUP_ID/basebackups" | json 'd["items"][-1]["id"]')")"
echo "full pgvault full $stored $seconds $(serve_ticks | awk -v hz="$CLK_TCK" '{ printf "%.2f", $1 / hz }') - $(serve_hwm) - - -" >>"$RUNDIR/steps.tsv"
log "  pgvault full $label: $stored bytes stored in $seconds s"
br_backup full full

# Changed blocks since PgVault's newest base backup's start (its reference for the next incr).
count_changed() {
    pgq "CHECKPOINT" >/dev/null
    local start
    start=$(api "$API/clusters/backups/$BACKUP_ID/basebackups" | json 'd["items"][0]["properties"]["startLsn"]')
    CHANGED=$(python3 "$HERE/changed_blocks.py" "$PGDATA" "$start" "${PGVAULT_INCR_LEVEL/default/6}")
    log "  changed since $start: $(awk '{ printf "%d of %d blocks, %d bytes with zstd", $1, $2, $3 }' <<<"$CHANGED")"
}

both_incr() { # STEP ORDER(0: pgvault first)
    count_changed
    if (( $2 == 0 )); then pv_backup "$1" incr; br_backup "$1" incr; else br_backup "$1" incr; pv_backup "$1" incr; fi
}

log "workload A: pgbench -c 4 -j 2 -T $A_SECONDS"
"$PG_BIN/pgbench" -n -c 4 -j 2 -T "$A_SECONDS" -h 127.0.0.1 -p "$PGPORT" -U postgres bench >"$RUNDIR/pgbench-A.txt" 2>&1
both_incr A 0
rows=$((SCALE * 1000))
log "workload B: UPDATE of $rows rows of pgbench_accounts (1 %), aid 1 to $rows"
pgq "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid BETWEEN 1 AND $rows" >/dev/null
both_incr B 1
for c in 1 2 3 4; do
    log "workload C$c: pgbench -c 4 -j 2 -T $C_SECONDS"
    "$PG_BIN/pgbench" -n -c 4 -j 2 -T "$C_SECONDS" -h 127.0.0.1 -p "$PGPORT" -U postgres bench >"$RUNDIR/pgbench-C$c.txt" 2>&1
    both_incr "C$c" $((c % 2))
done

# ------------------------------------------------------------------------------------------------------------- restore
CHANGED="- - -"
target=$WORK/restore
rm -rf "$target"; mkdir -p "$target"; chown postgres: "$target"; chmod 700 "$target"
MEASURE_CHECKPOINT=0 measure restore pgvault bash -c "'$PGVAULT' restore --backup-id '$BACKUP_ID' --to '$target' --target immediate \
    --config '$SERVE_DIR.json' && sync" || die "pgvault restore failed"
grep -o 'restoring base backup [0-9TZ]*' "$RUNDIR/restore/pgvault/1/stdout.txt" "$RUNDIR/restore/pgvault/1/stderr.txt" | head -1 >&2 || true
tail -1 "$RUNDIR/results.tsv" | awk -v b="$(du -sb "$target" | cut -f1)" '{ print "restore pgvault full+6incr", b, $5, $6, $7, $11, "- - -" }' >>"$RUNDIR/steps.tsv"
rm -rf "$target"; mkdir -p "$target"; chown postgres: "$target"; chmod 700 "$target"
MEASURE_CHECKPOINT=0 measure restore pgbackrest setpriv --reuid=postgres --regid=postgres --init-groups -- bash -c \
    "pgbackrest --config='$BR_CONF' --stanza=bench --pg1-path='$target' --type=immediate restore && sync" || die "pgbackrest restore failed"
tail -1 "$RUNDIR/results.tsv" | awk -v b="$(du -sb "$target" | cut -f1)" '{ print "restore pgbackrest full+6incr", b, $5, $6, $7, $11, "- - -" }' >>"$RUNDIR/steps.tsv"
rm -rf "$target"
as_pg pgbackrest --config="$BR_CONF" --stanza=bench info >"$RUNDIR/pgbackrest-info.txt" 2>&1 || true

# ---------------------------------------------------------------------------------------------------------------- diff
pgq "CHECKPOINT" >/dev/null
full_start=$(api "$API/clusters/backups/$BACKUP_ID/basebackups" | json '[i for i in d["items"] if i["properties"]["type"] == "full"][0]["properties"]["startLsn"]')
CHANGED=$(python3 "$HERE/changed_blocks.py" "$PGDATA" "$full_start" 1)
pv_backup diff diff
br_backup diff diff
stop_pid "$SERVE_PID"; SERVE_PID=""

# -------------------------------------------------------------------------------------------------------------- report
{
    echo "== PgVault incremental base backups (bench/incremental/run.sh$( ((QUICK)) && echo ' --quick')) =="
    echo "pgbench scale $SCALE; pgvault $(cat "$OUT/pgvault.rev") (serve, zstd level ${PGVAULT_LEVEL/default/1} for fulls, ${PGVAULT_INCR_LEVEL/default/6} for changed blocks, 2 workers); pgBackRest $(pgbackrest version | awk '{ print $2 }') zst level $LEVEL, process-max $WORKERS"
    echo "$(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1e6 }' /proc/meminfo); $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    printf "%-8s %-11s %-10s %14s %8s %7s %7s %8s %10s %14s\n" step tool type "stored B" "wall s" "CPU s" "pg CPU" "RSS MB" "changed" "changed zst B"
    awk '{ printf "%-8s %-11s %-10s %14s %8s %7s %7s %8.0f %10s %14s\n", $1, $2, $3, $4, $5, $6, $7, $8 / 1024, $9, $11 }' "$RUNDIR/steps.tsv"
    echo
    echo "stored B: the base backup's own objects (pgvault: the API's storedBytes; pgBackRest: its backup directory); CPU s: pgvault"
    echo "serve's CPU during the base backup (WAL streaming included), pgBackRest's (time -v); RSS: pgvault serve's peak so far,"
    echo "pgBackRest's process tree peak; changed: pages with an LSN newer than pgvault's reference's start (after a CHECKPOINT),"
    echo "changed zst B: those pages compressed with zstd at the level pgvault compresses an incremental's changed blocks with."
} | tee "$OUT/results.txt"

missed=0
verdict() { # NAME OK(1/0) TEXT
    local mark=met
    (( $2 )) || { mark=MISSED; missed=1; }
    printf "target %-40s %-6s %s\n" "$1" "$mark" "$3" | tee -a "$OUT/results.txt"
}
v() { awk -v s="$1" -v t="$2" -v ty="$3" -v c="$4" '$1 == s && $2 == t && $3 == ty { print $c }' "$RUNDIR/steps.tsv"; }
for step in A B; do
    limit=$TARGET_A; [[ $step == B ]] && limit=$TARGET_B
    r=$(awk -v a="$(v "$step" pgvault incr 4)" -v b="$(v "$step" pgbackrest incr 4)" 'BEGIN { printf "%.3f", a / b }')
    verdict "$step: stored <= ${limit}x pgBackRest incr" "$(awk -v r="$r" -v l="$limit" 'BEGIN { print (r <= l) }')" "${r}x"
    r=$(awk -v a="$(v "$step" pgvault incr 4)" -v z="$(v "$step" pgvault incr 11)" 'BEGIN { printf "%.2f", (z > 0 ? a / z : 0) }')
    verdict "$step: stored <= ${TARGET_CHANGED}x zstd(changed blocks)" "$(awk -v r="$r" -v l="$TARGET_CHANGED" 'BEGIN { print (r <= l) }')" "${r}x"
    r=$(awk -v a="$(v "$step" pgvault incr 5)" -v b="$(v "$step" pgbackrest incr 5)" 'BEGIN { printf "%.2f", a / b }')
    verdict "$step: wall <= ${TARGET_WALL}x pgBackRest incr" "$(awk -v r="$r" -v l="$TARGET_WALL" 'BEGIN { print (r <= l) }')" "${r}x"
done
r=$(awk -v a="$(v restore pgbackrest full+6incr 5)" -v b="$(v restore pgvault full+6incr 5)" 'BEGIN { printf "%.2f", a / b }')
verdict "restore full+6 incr >= ${TARGET_RESTORE}x pgBackRest" "$(awk -v r="$r" -v l="$TARGET_RESTORE" 'BEGIN { print (r >= l) }')" "${r}x"
rss=$(awk '$2 == "pgvault" { if ($8 > m) m = $8 } END { printf "%.0f", m / 1024 }' "$RUNDIR/steps.tsv")
verdict "peak RSS <= ${TARGET_RSS_MB} MB" "$(( rss <= TARGET_RSS_MB ))" "${rss} MB"
log "report: $OUT/results.txt"
exit $(( missed ? 2 : 0 ))
