#!/usr/bin/env bash
# PgVault API benchmark: list/get endpoints against a ceiling endpoint of the same server, on both catalogs.
#
#   bash bench/api/run.sh            (from the repository root; see bench/README.md)
#
# For each catalog (SQLite, then PostgreSQL in a throwaway cluster) it fills 100,000 backups over 1,000 clusters,
# starts `pgvault serve` and drives, with wrk at 64 connections for 20 s each:
#   GET /clusters/backups?offset=<uniform 0..99,900>&limit=100
#   GET /clusters/<random cluster>/backups          (100 backups per cluster: a page of 100)
#   GET /clusters/backups/<random backup>
# and, before each, GET /bench/ceiling?bytes=<that endpoint's body size> (a fixed body behind the same auth: the most
# this server could serve). Then it times single pages at deep offsets, grows the catalog to 1,000,000 backups and
# times the last page. Public tools only: wrk, sqlite3, psql, curl and the pgvault binary.
#
# Knobs (environment): DURATION=20s WARMUP=5s CONNECTIONS=64 THREADS=2 BACKUPS=100000 CLUSTERS=1000
#   DEEP_BACKUPS=1000000 (0 = skip growing) REPS=5 CATALOGS="sqlite postgres" PG_BIN=/usr/lib/postgresql/15/bin
#   SKIP_BUILD=1 (reuse bench/api/out/pgvault) OUT=bench/api/out
#   REV=<commit> (build that commit, exported with git archive into OUT/src, instead of the working tree)
#   QUIET_WAIT=10 (before each run, wait up to this many seconds for other processes to leave the CPUs idle)
#   TRIES=1 (runs of one measurement at most, when other processes took more than 25% of a core during it)
# Exit status: 0 every target met, 2 the benchmark ran but a target was missed or requests failed, other = broken run.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${OUT:-$HERE/out}
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-5s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
BACKUPS=${BACKUPS:-100000}
CLUSTERS=${CLUSTERS:-1000}
DEEP_BACKUPS=${DEEP_BACKUPS:-1000000}
REPS=${REPS:-5}
CATALOGS=${CATALOGS:-"sqlite postgres"}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
SKIP_BUILD=${SKIP_BUILD:-0}
REV=${REV:-}
QUIET_WAIT=${QUIET_WAIT:-10}
TRIES=${TRIES:-1}
NOISY_PCT=25
PAGE=100                 # limit of the list pages
TARGET_RATIO=0.5         # list endpoint req/s >= TARGET_RATIO x ceiling req/s ...
TARGET_P99_MS=20         # ... with p99 <= TARGET_P99_MS
T0_US=1546300800000000   # 2019-01-01T00:00:00Z: the first backup; one backup every ~150 s after it
LUA=$HERE/targets.lua
PGVAULT=$OUT/pgvault/pgvault
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

STARTED=$(date +%s)
log() { printf '[%4ss] %s\n' "$(($(date +%s) - STARTED))" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

if (( CLUSTERS % 337 == 0 )); then die "CLUSTERS must not be a multiple of 337 (the fill spreads backups with it)"; fi
if (( BACKUPS % CLUSTERS != 0 || BACKUPS < 2 * PAGE )); then die "BACKUPS must be a multiple of CLUSTERS and at least $((2 * PAGE))"; fi

# ---------------------------------------------------------------------------------------------------------------- tools
as_root() { if [[ $(id -u) == 0 ]]; then "$@"; else sudo "$@"; fi; }
need_pkgs=()
command -v wrk >/dev/null || need_pkgs+=(wrk)
command -v sqlite3 >/dev/null || need_pkgs+=(sqlite3)
command -v curl >/dev/null || need_pkgs+=(curl)
if (( ${#need_pkgs[@]} > 0 )); then
    log "installing ${need_pkgs[*]} with apt-get"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi
command -v dotnet >/dev/null || die "the .NET SDK (dotnet) is required to build pgvault"
if [[ " $CATALOGS " == *" postgres "* ]]; then
    [[ -x $PG_BIN/initdb && -x $PG_BIN/pg_ctl ]] \
        || die "PostgreSQL server binaries not found in PG_BIN=$PG_BIN (apt-get install postgresql-15, or CATALOGS=sqlite)"
fi
PSQL=$PG_BIN/psql
[[ -x $PSQL ]] || PSQL=$(command -v psql || true)

# Runs a PostgreSQL server binary: PostgreSQL refuses to run as root, so as the postgres user when we are root.
as_pg() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

free_port() {
    local p
    for _ in $(seq 1 100); do
        p=$((20000 + RANDOM % 30000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
    done
    return 1
}

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# CPU ticks (user + system) of a process, or of a process and its direct children (the PostgreSQL backends).
CLK_TCK=$(getconf CLK_TCK)
tree_ticks() {
    { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v root="$1" -v kids="$2" '
        { pid = $1; sub(/^.*\) /, ""); ppid[pid] = $2; t[pid] = $12 + $13 }
        END { s = 0; for (p in t) if (p == root || (kids && ppid[p] == root)) s += t[p]; print s }'
}
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit }' /proc/stat; }
NCPU=$(nproc)

# The machine is shared (a build or test run next to the benchmark skews it badly on 2 cores): before each run wait up
# to QUIET_WAIT seconds for the CPUs to be idle (< 15% of one core busy over a second), and say so if they never are.
wait_quiet() {
    local deadline=$((SECONDS + QUIET_WAIT)) a b busy
    while :; do
        a=$(machine_ticks); sleep 1; b=$(machine_ticks)
        busy=$(awk -v a="$a" -v b="$b" -v n="$NCPU" 'BEGIN { split(a, x, " "); split(b, y, " ");
            print ((y[2] - x[2]) > 0 ? int(100 * n * (y[1] - x[1]) / (y[2] - x[2])) : 0) }')
        (( busy < 15 )) && return 0
        if (( SECONDS >= deadline )); then
            log "  WARNING: other processes keep ${busy}% of one core busy; measuring anyway (see the 'other' column)"
            return 0
        fi
    done
}

# ----------------------------------------------------------------------------------------------------- cleanup (trap)
SERVER_PID=""
PGTMP=""
PGDATA_DIR=""
stop_server() {
    if [[ -n $SERVER_PID ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}
stop_pg() {
    if [[ -n $PGTMP ]]; then
        if [[ -n $PGDATA_DIR && -f $PGDATA_DIR/postmaster.pid ]]; then
            as_pg "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w -t 60 stop >/dev/null 2>&1 || true
        fi
        rm -rf "$PGTMP"
        PGTMP=""
        PGDATA_DIR=""
    fi
}
cleanup() {
    set +e
    stop_server
    stop_pg
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------------------------- build
mkdir -p "$OUT"
if [[ $SKIP_BUILD == 1 && -x $PGVAULT ]]; then
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
        if [[ -n $(git -C "$ROOT" status --porcelain -- src 2>/dev/null) ]]; then
            built_rev="$built_rev + uncommitted changes in src/"
        fi
    fi
    log "building pgvault $built_rev (Release) into $OUT/pgvault"
    # --artifacts-path keeps obj/ and bin/ of this build under bench/api/out, away from src/*/obj and src/*/bin.
    rm -rf "$OUT/pgvault" "$OUT/pgvault.rev"
    (cd "$src_root" && dotnet publish src/PgVault/PgVault.csproj -c Release -o "$OUT/pgvault" \
        --artifacts-path "$OUT/artifacts" -nologo -v q) >"$OUT/build.log" 2>&1 \
        || { cat "$OUT/build.log" >&2; die "dotnet publish failed (log: $OUT/build.log)"; }
    echo "$built_rev" >"$OUT/pgvault.rev"
fi

TOKEN_OUT=$("$PGVAULT" token create --name bench)
TOKEN=$(awk '/^token: / { print $2 }' <<<"$TOKEN_OUT")
TOKEN_ENTRY=$(grep '^{' <<<"$TOKEN_OUT")
[[ $TOKEN == pgv_* && -n $TOKEN_ENTRY ]] || die "unexpected output of 'pgvault token create': $TOKEN_OUT"
AUTH="Authorization: Bearer $TOKEN"
PORT=$(free_port) || die "no free port"
BASE="http://127.0.0.1:$PORT"

# ------------------------------------------------------------------------------------------------------------ the fill
# Backup b (0-based) belongs to cluster (b * 337) % CLUSTERS (exactly BACKUPS / CLUSTERS per cluster), is created at
# T0 + b * 150 s + (b * 7919 % 1e6) us (all distinct), has the IONOS id <clusterId>-<8 hex>-15, a size from 16 MiB to
# ~200 GiB, an earliest recovery target 1..61 min after creation (none for the 2% FAILED), and 2% are DEGRADED.
# The newest backup of each cluster is the active one. SQLite and PostgreSQL get the same rows from the same formulas.
# Each row gets the listing key of migration 0003 (16 hex digits of 2^63-1 - created_us, ':', id), and each fill step
# bumps catalog_state.backups_generation, as pgvault does when it adds backups (its page-boundary cache is per generation).
sqlite_fill_sql() { # LO HI WITH_CLUSTERS
    local lo=$1 hi=$2 with_clusters=$3
    cat <<SQL
PRAGMA synchronous = OFF;
PRAGMA cache_size = -262144;
BEGIN;
SQL
    if [[ $with_clusters == 1 ]]; then
        cat <<SQL
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $CLUSTERS - 1)
INSERT INTO clusters (id, display_name, created_us, state, postgres_version, backup_location)
SELECT printf('%08x-%04x-4%03x-%04x-%012x',
              ((i + 1) * 2654435761) % 4294967296, ((i + 1) * 40503) % 65536, ((i + 1) * 2246822519) % 4096,
              32768 + ((i + 1) * 3266489917) % 16384, ((i + 1) * 174440041973063) % 281474976710656),
       printf('bench-%04d', i), $T0_US - 86400000000 + i * 1000000, 'AVAILABLE', '15', 'local'
FROM n;
SQL
    fi
    cat <<SQL
CREATE TEMP TABLE bench_cluster (i INTEGER PRIMARY KEY, id TEXT NOT NULL);
INSERT INTO bench_cluster SELECT CAST(substr(display_name, 7) AS INTEGER), id FROM clusters WHERE display_name LIKE 'bench-%';
UPDATE catalog_state SET backups_change_seq = backups_change_seq + 1 WHERE id = 1;
UPDATE backups SET is_active = 0, change_seq = (SELECT backups_change_seq FROM catalog_state WHERE id = 1) WHERE is_active = 1;
WITH RECURSIVE n(b) AS (SELECT $lo UNION ALL SELECT b + 1 FROM n WHERE b < $hi - 1),
     g AS (SELECT b, (b * 337) % $CLUSTERS AS ci, $T0_US + b * 150000000 + (b * 7919) % 1000000 AS cus,
                  16777216 + ((b * 2654435761) % 4294967296) * (b % 47 + 1) AS sz FROM n)
INSERT INTO backups (id, cluster_id, created_us, state, version, is_active, earliest_recovery_target_us, size_bytes,
                     location, system_identifier, timeline, start_lsn, end_lsn, listing_key, change_seq)
SELECT c.id || '-' || printf('%08x', (g.b * 2654435761) % 4294967296) || '-15', c.id, g.cus,
       CASE g.b % 50 WHEN 0 THEN 'FAILED' WHEN 1 THEN 'DEGRADED' ELSE 'AVAILABLE' END, '15',
       CASE WHEN g.b >= $hi - $CLUSTERS THEN 1 ELSE 0 END,
       CASE WHEN g.b % 50 = 0 THEN NULL ELSE g.cus + 60000000 + (g.b % 3600) * 1000000 END, g.sz, 'local',
       CAST(7000000000000000000 + g.ci * 1000003 AS TEXT), 1, 16777216 * (g.b + 1), 16777216 * (g.b + 1) + g.sz,
       printf('%016x', 9223372036854775807 - g.cus) || ':' || c.id || '-' || printf('%08x', (g.b * 2654435761) % 4294967296) || '-15',
       (SELECT backups_change_seq FROM catalog_state WHERE id = 1)
FROM g JOIN bench_cluster c ON c.i = g.ci;
UPDATE catalog_state SET backups_generation = backups_generation + 1 WHERE id = 1;
COMMIT;
ANALYZE;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
}

pg_fill_sql() { # LO HI WITH_CLUSTERS
    local lo=$1 hi=$2 with_clusters=$3
    echo "BEGIN;"
    if [[ $with_clusters == 1 ]]; then
        cat <<SQL
INSERT INTO clusters (id, display_name, created_us, state, postgres_version, backup_location)
SELECT lpad(to_hex(((i + 1) * 2654435761) % 4294967296), 8, '0') || '-' || lpad(to_hex(((i + 1) * 40503) % 65536), 4, '0')
       || '-4' || lpad(to_hex(((i + 1) * 2246822519) % 4096), 3, '0') || '-' || to_hex(32768 + ((i + 1) * 3266489917) % 16384)
       || '-' || lpad(to_hex(((i + 1) * 174440041973063) % 281474976710656), 12, '0'),
       'bench-' || lpad(i::text, 4, '0'), $T0_US - 86400000000 + i * 1000000, 'AVAILABLE', '15', 'local'
FROM generate_series(0::bigint, $CLUSTERS - 1) i;
SQL
    fi
    cat <<SQL
CREATE TEMP TABLE bench_cluster (i bigint PRIMARY KEY, id text COLLATE "C" NOT NULL);
INSERT INTO bench_cluster SELECT substr(display_name, 7)::bigint, id FROM clusters WHERE display_name LIKE 'bench-%';
UPDATE catalog_state SET backups_change_seq = backups_change_seq + 1 WHERE id = 1;
UPDATE backups SET is_active = false, change_seq = (SELECT backups_change_seq FROM catalog_state WHERE id = 1) WHERE is_active;
INSERT INTO backups (id, cluster_id, created_us, state, version, is_active, earliest_recovery_target_us, size_bytes,
                     location, system_identifier, timeline, start_lsn, end_lsn, listing_key, change_seq)
SELECT c.id || '-' || lpad(to_hex((g.b * 2654435761) % 4294967296), 8, '0') || '-15', c.id, g.cus,
       CASE g.b % 50 WHEN 0 THEN 'FAILED' WHEN 1 THEN 'DEGRADED' ELSE 'AVAILABLE' END, '15',
       g.b >= $hi - $CLUSTERS,
       CASE WHEN g.b % 50 = 0 THEN NULL ELSE g.cus + 60000000 + (g.b % 3600) * 1000000 END, g.sz, 'local',
       (7000000000000000000 + g.ci * 1000003)::text, 1, 16777216 * (g.b + 1), 16777216 * (g.b + 1) + g.sz,
       lpad(to_hex(9223372036854775807 - g.cus), 16, '0') || ':' || c.id || '-' || lpad(to_hex((g.b * 2654435761) % 4294967296), 8, '0') || '-15',
       (SELECT backups_change_seq FROM catalog_state WHERE id = 1)
FROM (SELECT b, (b * 337) % $CLUSTERS AS ci, $T0_US + b * 150000000 + (b * 7919) % 1000000 AS cus,
             16777216 + ((b * 2654435761) % 4294967296) * (b % 47 + 1) AS sz
      FROM generate_series($lo::bigint, $hi - 1) b) g
JOIN bench_cluster c ON c.i = g.ci;
UPDATE catalog_state SET backups_generation = backups_generation + 1 WHERE id = 1;
COMMIT;
VACUUM ANALYZE clusters;
VACUUM ANALYZE backups;
SQL
}

# The page query of GET /clusters/backups as src/PgVault.Core/Catalog/Sql/AdoCatalog.cs (ListBackupsAsync) issues it,
# for SQL-only timings. Below offset STRIDE it reads the listing from its start; from STRIDE on, pgvault seeks the
# cached boundary key of position STRIDE * floor(offset / STRIDE) (the boundaries are cached per catalog generation) and
# skips fewer than STRIDE rows from there; before that it reads the generation (GEN_SQL) to know whether its cache is
# current. The boundary key is looked up here with a query of its own, outside the timing (pgvault has it cached).
STRIDE=256   # AdoCatalog.BoundaryStride
BACKUP_COLUMNS="id, cluster_id, created_us, state, version, is_active, earliest_recovery_target_us, size_bytes, location, system_identifier, timeline, start_lsn, end_lsn"
GEN_SQL="SELECT backups_generation FROM catalog_state WHERE id = 1"
seek_of() { # OFFSET: prints "KEY SKIP", the boundary key pgvault seeks from ("-": none, offset < STRIDE) and the rows it skips
    local b
    if (( $1 < STRIDE )); then echo "- $1"; return; fi
    b=$(($1 / STRIDE))
    echo "$(catalog_query "SELECT listing_key FROM backups ORDER BY listing_key LIMIT 1 OFFSET $((b * STRIDE))") $(($1 - b * STRIDE))"
}
page_sql() { # OFFSET [WHERE-CLAUSE]: the page query with literal values (a WHERE-CLAUSE: a scoped listing, no seek)
    local key skip where=${2:-}
    if [[ -n $where ]]; then
        key=-; skip=$1
    else
        read -r key skip < <(seek_of "$1")
        [[ $key == - ]] || where="WHERE listing_key >= '$key'"
    fi
    echo "SELECT $BACKUP_COLUMNS FROM backups${where:+ $where} ORDER BY listing_key LIMIT $((PAGE + 1)) OFFSET $skip"
}

CAT=""      # catalog being measured
TSV=""      # where measure() appends its results
RUN=""      # its output directory
SQLITE_DB=""
PGPORT=""
pg() { "$PSQL" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U postgres -d pgvault "$@"; }

catalog_sql() { # runs SQL from stdin against the catalog
    if [[ $CAT == sqlite ]]; then sqlite3 -bail "$SQLITE_DB" >/dev/null; else pg >/dev/null; fi
}
catalog_query() { # prints the rows of one query, one per line
    if [[ $CAT == sqlite ]]; then sqlite3 "$SQLITE_DB" "$1"; else pg -At -c "$1"; fi
}
fill() { # LO HI WITH_CLUSTERS
    if [[ $CAT == sqlite ]]; then sqlite_fill_sql "$@" | catalog_sql; else pg_fill_sql "$@" | catalog_sql; fi
    if [[ $CAT == postgres ]]; then
        # Index-only scans of the listing skip the heap only on all-visible pages: check VACUUM made them so.
        local vm
        vm=$(catalog_query "SELECT relallvisible || '/' || relpages FROM pg_class WHERE relname = 'backups'")
        [[ ${vm%/*} == "${vm#*/}" ]] || log "WARNING: only $vm pages of backups are all-visible after VACUUM"
    fi
}
# OFFSET: median execution time of what pgvault's catalog runs for one page of GET /clusters/backups, in ms: the page
# query, plus the generation lookup when offset >= STRIDE (the sum of both per repetition). On PostgreSQL both are
# prepared statements with pgvault's parameter types (Npgsql auto-prepares them) and executed 5 times before the timed
# runs, so the plan timed is the one a long-running pgvault gets (generic or custom, as plan_cache_mode=auto decides).
# On SQLite: the CPU time (user + sys) of the sqlite3 shell per statement from .timer, whose wall-clock "real" figure
# has a resolution of 1 ms only (the data is in the page cache: CPU time is the statement's time).
sql_ms() {
    local key skip i n=1 q
    read -r key skip < <(seek_of "$1")
    [[ $key == - ]] || n=2
    if [[ $CAT == sqlite ]]; then
        q=$(page_sql "$1")
        { echo ".timer on"; echo ".output /dev/null"
          for ((i = 0; i < REPS; i++)); do (( n == 2 )) && echo "$GEN_SQL;"; echo "$q;"; done; } \
            | sqlite3 "$SQLITE_DB" | sed -n 's/^Run Time: real [0-9.]* user \([0-9.]*\) sys \([0-9.]*\).*/\1 \2/p' \
            | awk -v n="$n" '{ s += ($1 + $2) * 1000 } NR % n == 0 { print s; s = 0 }' | median
    else
        local exec_page
        {
            echo "PREPARE gen AS $GEN_SQL;"
            if (( n == 2 )); then
                echo "PREPARE page(text, integer, integer) AS SELECT $BACKUP_COLUMNS FROM backups WHERE listing_key >= \$1 ORDER BY listing_key LIMIT \$2 OFFSET \$3;"
                exec_page="EXECUTE page('$key', $((PAGE + 1)), $skip)"
            else
                echo "PREPARE page(integer, integer) AS SELECT $BACKUP_COLUMNS FROM backups ORDER BY listing_key LIMIT \$1 OFFSET \$2;"
                exec_page="EXECUTE page($((PAGE + 1)), $skip)"
            fi
            echo "\\o /dev/null"
            for ((i = 0; i < 5; i++)); do (( n == 2 )) && echo "EXECUTE gen;"; echo "$exec_page;"; done
            echo "\\o"
            for ((i = 0; i < REPS; i++)); do
                (( n == 2 )) && echo "EXPLAIN (ANALYZE, TIMING OFF) EXECUTE gen;"
                echo "EXPLAIN (ANALYZE, TIMING OFF) $exec_page;"
            done
        } | pg -At | sed -n 's/^Execution Time: \([0-9.]*\) ms/\1/p' \
            | awk -v n="$n" '{ s += $1 } NR % n == 0 { print s; s = 0 }' | median
    fi
}

start_pg() {
    PGTMP=$(mktemp -d /tmp/pgvault-bench-pg.XXXXXX)
    PGDATA_DIR=$PGTMP/data
    [[ $(id -u) == 0 ]] && chown postgres: "$PGTMP"
    chmod 700 "$PGTMP"
    PGPORT=$(free_port) || die "no free port for PostgreSQL"
    as_pg "$PG_BIN/initdb" -D "$PGDATA_DIR" -U postgres -A trust -E UTF8 --locale=C >"$RUN/initdb.log" 2>&1 \
        || { cat "$RUN/initdb.log" >&2; die "initdb failed"; }
    # A throwaway server: no fsync (it only speeds up the fill; reads are unaffected), room for pgvault's pool.
    # Not synchronous_commit = off: VACUUM right after an asynchronous commit cannot set the hint bits, so it leaves
    # the pages not all-visible and every index-only scan of the listing would fetch the heap.
    as_pg tee -a "$PGDATA_DIR/postgresql.conf" >/dev/null <<CONF
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = '$PGTMP'
max_connections = 200
shared_buffers = 256MB
fsync = off
full_page_writes = off
CONF
    as_pg "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$PGTMP/server.log" -w -t 60 start >/dev/null \
        || { cat "$PGTMP/server.log" >&2; die "PostgreSQL did not start"; }
    "$PSQL" -X -q -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -c "CREATE DATABASE pgvault" >/dev/null
}

write_config() {
    local catalog_json
    if [[ $CAT == sqlite ]]; then
        catalog_json='{ "Provider": "sqlite" }'
    else
        catalog_json="{ \"Provider\": \"postgres\", \"ConnectionString\": \"Host=127.0.0.1;Port=$PGPORT;Username=postgres;Database=pgvault\" }"
    fi
    cat >"$RUN/pgvault.json" <<JSON
{
  "Logging": { "LogLevel": { "Default": "Warning" } },
  "PgVault": {
    "DataDirectory": "$RUN/data",
    "Catalog": $catalog_json,
    "Tokens": [ $TOKEN_ENTRY ],
    "RateLimit": { "PermitsPerSecond": 0 },
    "Api": { "EnableBenchmarkEndpoint": true }
  }
}
JSON
}

start_server() {
    "$PGVAULT" serve --config "$RUN/pgvault.json" --urls "$BASE" >"$RUN/serve.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 150); do
        if curl -fsS -o /dev/null "$BASE/healthz" 2>/dev/null; then return 0; fi
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$RUN/serve.log" >&2; die "pgvault serve exited"; }
        sleep 0.2
    done
    cat "$RUN/serve.log" >&2
    die "pgvault serve did not answer /healthz"
}

# GET PATH into FILE; prints the body size; dies unless 200.
fetch() {
    local code size
    read -r code size < <(curl -s -o "$2" -w '%{http_code} %{size_download}\n' -H "$AUTH" "$BASE$1")
    [[ $code == 200 ]] || die "GET $1 answered $code: $(head -c 300 "$2")"
    echo "$size"
}

# One wrk run. Appends "label rps p50_us p99_us non2xx socket_errors bytes_per_response server% db% wrk% machine% other%"
# to $TSV (CPU in % of one core: 200% = both cores of a 2-core machine; other = machine - server - db - wrk, i.e. other
# processes and interrupt time not charged to a process).
# A run during which other processes used more than NOISY_PCT% of a core is repeated (up to TRIES runs in all); the last
# one is kept and the report flags it if it is still noisy.
measure() { # LABEL DURATION MODE ARGS...
    local label=$1 try result other
    for ((try = 1; ; try++)); do
        result=$(measure_once "$@")
        other=$(awk '{ print $12 }' <<<"$result")
        log "  $label: $(awk '{ printf "%.1f req/s, p50 %.2f ms, p99 %.2f ms, non-2xx %d, socket errors %d, other processes %d%% of a core", $2, $3 / 1000, $4 / 1000, $5, $6, $12 }' <<<"$result")"
        if (( other <= NOISY_PCT || try >= TRIES )); then break; fi
        log "  $label: other processes were busy during the run; running it again"
    done
    echo "$result" >>"$TSV"
}

measure_once() { # LABEL DURATION MODE ARGS...
    local label=$1 dur=$2 out=$RUN/wrk-$1.txt line s0 s1 d0 d1 m0 m1
    shift 2
    local db_pid=""
    wait_quiet
    [[ $CAT == postgres ]] && db_pid=$(head -1 "$PGDATA_DIR/postmaster.pid")
    s0=$(tree_ticks "$SERVER_PID" 0)
    d0=0; [[ -n $db_pid ]] && d0=$(tree_ticks "$db_pid" 1)
    m0=$(machine_ticks)
    local TIMEFORMAT='%3U %3S'
    { time wrk -t"$THREADS" -c"$CONNECTIONS" -d"$dur" --latency -H "$AUTH" -s "$LUA" "$BASE" -- "$@" >"$out" 2>&1; } \
        2>"$out.time" || true
    s1=$(tree_ticks "$SERVER_PID" 0)
    d1=0; [[ -n $db_pid ]] && d1=$(tree_ticks "$db_pid" 1)
    m1=$(machine_ticks)
    line=$(grep '^RESULT ' "$out" || true)
    [[ -n $line ]] || { cat "$out" >&2; die "wrk run $label failed (output: $out)"; }
    # wrk's own report of failed requests, cross-checked with the RESULT line.
    if grep -q 'Non-2xx or 3xx responses' "$out"; then log "  $label: $(grep 'Non-2xx or 3xx responses' "$out" | xargs)"; fi
    if grep -q 'Socket errors' "$out"; then log "  $label: $(grep 'Socket errors' "$out" | xargs)"; fi
    awk -v label="$label" -v s="$((s1 - s0))" -v d="$((d1 - d0))" -v hz="$CLK_TCK" -v m0="$m0" -v m1="$m1" -v n="$NCPU" \
        -v wt="$(cat "$out.time")" '
        {
            for (i = 2; i <= NF; i++) { split($i, kv, "="); r[kv[1]] = kv[2] }
            sec = r["duration_us"] / 1e6
            split(wt, w, " "); split(m0, a, " "); split(m1, b, " ")
            busy = (b[2] - a[2]) > 0 ? 100 * n * (b[1] - a[1]) / (b[2] - a[2]) : 0
            srv = 100 * s / hz / sec; db = 100 * d / hz / sec; wrk = 100 * (w[1] + w[2]) / sec
            other = busy - srv - db - wrk; if (other < 0) other = 0
            printf "%s %s %d %d %d %d %d %.0f %.0f %.0f %.0f %.0f\n", label, r["rps"], r["p50_us"], r["p99_us"], r["non2xx"],
                r["connect"] + r["read"] + r["write"] + r["timeout"], r["requests"] ? r["bytes"] / r["requests"] : 0,
                srv, db, wrk, busy, other
        }' <<<"$line"
}

http_ms() { # PATH: median of REPS sequential requests (curl time_total), in ms
    local i code t
    for ((i = 0; i < REPS; i++)); do
        read -r code t < <(curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -H "$AUTH" "$BASE$1")
        [[ $code == 200 ]] || die "GET $1 answered $code"
        echo "$t"
    done | awk '{ print $1 * 1000 }' | median
}

deep() { # TOTAL OFFSET: one row of the deep-offset table
    local h s
    h=$(http_ms "/clusters/backups?offset=$2&limit=$PAGE")
    s=$(sql_ms "$2")
    echo "$1 $2 $h $s" >>"$RUN/deep.tsv"
    log "  $1 backups, offset $2: http $h ms, sql $s ms (medians of $REPS)"
}

# TOTAL OFFSET: one request (curl time_total), the first with an offset >= STRIDE since the catalog changed, which
# rebuilds pgvault's cache of page boundaries (it reads every listing key once).
cold() {
    local code t
    read -r code t < <(curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -H "$AUTH" "$BASE/clusters/backups?offset=$2&limit=$PAGE")
    [[ $code == 200 ]] || die "GET /clusters/backups?offset=$2 answered $code"
    t=$(awk -v t="$t" 'BEGIN { print t * 1000 }')
    echo "$1 $2 $t" >>"$RUN/cold.tsv"
    log "  $1 backups: first request at offset $2 after the catalog changed (boundary cache rebuilt): $t ms"
}

# The backups pgvault's read model holds (its /metrics gauge; empty when metrics are off).
model_backups() {
    curl -s "$BASE/metrics" | awk '/^pgvault_api_read_model_backups[{ ]/ { print $NF; exit }'
}

# TOTAL: waits (at most 600 s) until pgvault's read model holds TOTAL backups; appends "TOTAL seconds" to model.tsv.
wait_model() {
    local t0 n
    t0=$(date +%s.%N)
    for _ in $(seq 1 6000); do
        n=$(model_backups)
        if [[ $n == "$1" ]]; then
            awk -v a="$t0" -v b="$(date +%s.%N)" -v n="$1" 'BEGIN { printf "%d %.1f\n", n, b - a }' >>"$RUN/model.tsv"
            log "  read model holds $1 backups (waited $(tail -1 "$RUN/model.tsv" | cut -d' ' -f2) s)"
            return 0
        fi
        sleep 0.1
    done
    die "pgvault's read model did not reach $1 backups in 600 s (it holds ${n:-?}; see $RUN/serve.log)"
}

# TOTAL: appends "TOTAL VmRSS_kB VmHWM_kB" of pgvault serve to rss.tsv.
rss() {
    local r h
    r=$(awk '/^VmRSS/ { print $2 }' "/proc/$SERVER_PID/status")
    h=$(awk '/^VmHWM/ { print $2 }' "/proc/$SERVER_PID/status")
    echo "$1 $r $h" >>"$RUN/rss.tsv"
    log "  pgvault serve with $1 backups: RSS $((r / 1024)) MB (peak $((h / 1024)) MB)"
}

run_catalog() {
    CAT=$1
    RUN=$OUT/run/$CAT
    rm -rf "$RUN"
    mkdir -p "$RUN/data"
    : >"$RUN/warmup.tsv"
    : >"$RUN/measure.tsv"
    : >"$RUN/deep.tsv"
    : >"$RUN/cold.tsv"
    : >"$RUN/model.tsv"
    : >"$RUN/rss.tsv"
    log "== $CAT catalog"
    if [[ $CAT == postgres ]]; then start_pg; else SQLITE_DB=$RUN/data/catalog.db; fi
    write_config
    "$PGVAULT" catalog migrate --config "$RUN/pgvault.json" >/dev/null

    local t0=$SECONDS
    fill 0 "$BACKUPS" 1
    local n
    n=$(catalog_query "SELECT count(*) FROM backups")
    [[ $n == "$BACKUPS" ]] || die "$CAT catalog holds $n backups, expected $BACKUPS"
    log "filled $BACKUPS backups over $CLUSTERS clusters in $((SECONDS - t0)) s"
    catalog_query "SELECT id FROM clusters ORDER BY id" >"$RUN/cluster-ids.txt"
    catalog_query "SELECT id FROM backups ORDER BY id" >"$RUN/backup-ids.txt"

    start_server
    log "pgvault serve (pid $SERVER_PID) at $BASE"
    # The read model loads in the background after the start (requests are served from the catalog until then).
    wait_model "$BACKUPS"

    # Body sizes, and a sanity check of each endpoint. The list page is taken mid-set (it has prev and next links).
    local first_cluster first_backup list_bytes cluster_bytes backup_bytes
    first_cluster=$(head -1 "$RUN/cluster-ids.txt")
    first_backup=$(sed -n "$((BACKUPS / 2))p" "$RUN/backup-ids.txt")
    fetch "/clusters/backups?offset=0&limit=$PAGE" "$RUN/page-first.json" >/dev/null  # JIT of the list path, no boundaries yet
    cold "$BACKUPS" "$((BACKUPS / 2))"
    list_bytes=$(fetch "/clusters/backups?offset=$((BACKUPS / 2))&limit=$PAGE" "$RUN/page-list.json")
    cluster_bytes=$(fetch "/clusters/$first_cluster/backups" "$RUN/page-cluster.json")
    backup_bytes=$(fetch "/clusters/backups/$first_backup" "$RUN/page-backup.json")
    [[ $(grep -o '"type":"backup"' "$RUN/page-list.json" | wc -l) == "$PAGE" ]] || die "the list page does not hold $PAGE backups"
    [[ $(grep -o '"type":"backup"' "$RUN/page-cluster.json" | wc -l) == "$((BACKUPS / CLUSTERS < PAGE ? BACKUPS / CLUSTERS : PAGE))" ]] \
        || die "the cluster page does not hold the expected backups"
    fetch "/bench/ceiling?bytes=$list_bytes" "$RUN/ceiling.json" >/dev/null
    echo "$list_bytes $cluster_bytes $backup_bytes" >"$RUN/sizes.txt"
    log "body sizes: list page $list_bytes B, cluster page $cluster_bytes B, one backup $backup_bytes B"

    log "warm-up ($WARMUP per endpoint)"
    TSV=$RUN/warmup.tsv
    TRIES=1 measure warmup-list "$WARMUP" list "$((BACKUPS - PAGE))" "$PAGE"
    TRIES=1 measure warmup-cluster "$WARMUP" cluster "$RUN/cluster-ids.txt"
    TRIES=1 measure warmup-backup "$WARMUP" backup "$RUN/backup-ids.txt"
    TRIES=1 measure warmup-ceiling "$WARMUP" ceiling "$list_bytes"
    TSV=$RUN/measure.tsv

    log "measuring ($DURATION per run, $CONNECTIONS connections, $THREADS wrk threads)"
    measure ceiling-list "$DURATION" ceiling "$list_bytes"
    measure list "$DURATION" list "$((BACKUPS - PAGE))" "$PAGE"
    measure ceiling-cluster "$DURATION" ceiling "$cluster_bytes"
    measure cluster "$DURATION" cluster "$RUN/cluster-ids.txt"
    measure ceiling-backup "$DURATION" ceiling "$backup_bytes"
    measure backup "$DURATION" backup "$RUN/backup-ids.txt"

    # The plans of the page queries, for whoever optimises them (not part of the printed report).
    local explain="EXPLAIN (ANALYZE, BUFFERS)"
    [[ $CAT == sqlite ]] && explain="EXPLAIN QUERY PLAN"
    {
        echo "-- GET /clusters/backups?offset=$((BACKUPS / 2))&limit=$PAGE (after $GEN_SQL; literal values, not prepared):"
        catalog_query "$explain $(page_sql "$((BACKUPS / 2))")"
        echo "-- GET /clusters/$first_cluster/backups (the cluster itself is looked up only when the page is empty):"
        catalog_query "$explain $(page_sql 0 "WHERE cluster_id IN ('$first_cluster')")"
    } >"$RUN/plans.txt" 2>&1 || true
    log "deep offsets (one request at a time)"
    deep "$BACKUPS" 0
    deep "$BACKUPS" "$((BACKUPS / 2))"
    deep "$BACKUPS" "$((BACKUPS - PAGE))"
    rss "$BACKUPS"
    if (( DEEP_BACKUPS > BACKUPS )); then
        t0=$SECONDS
        fill "$BACKUPS" "$DEEP_BACKUPS" 0
        n=$(catalog_query "SELECT count(*) FROM backups")
        [[ $n == "$DEEP_BACKUPS" ]] || die "$CAT catalog holds $n backups, expected $DEEP_BACKUPS"
        log "grew the catalog to $DEEP_BACKUPS backups in $((SECONDS - t0)) s"
        # The first request after the growth (900,000 changes: more than the read model applies in place) starts its
        # reload in the background and is served from the catalog (which rebuilds its page-boundary cache).
        cold "$DEEP_BACKUPS" "$((DEEP_BACKUPS - PAGE))"
        wait_model "$DEEP_BACKUPS"
        deep "$DEEP_BACKUPS" 0
        deep "$DEEP_BACKUPS" "$((DEEP_BACKUPS - PAGE))"
        rss "$DEEP_BACKUPS"
    fi
    local size
    if [[ $CAT == sqlite ]]; then
        size="$(du -m "$SQLITE_DB" | cut -f1) MB"
    else
        size=$(catalog_query "SELECT pg_database_size('pgvault') / 1048576 || ' MB'")
    fi
    echo "$(catalog_query "SELECT count(*) FROM backups") backups: $size" >"$RUN/size.txt"

    stop_server
    if grep -qiE 'fail|exception|error' "$RUN/serve.log"; then
        log "pgvault logged errors (see $RUN/serve.log):"
        grep -iE 'fail|exception|error' "$RUN/serve.log" | head -5 >&2
    fi
    [[ $CAT == postgres ]] && stop_pg
    return 0
}

# -------------------------------------------------------------------------------------------------------------- report
report_catalog() { # CAT
    local run=$OUT/run/$1 sizes
    read -r -a sizes <"$run/sizes.txt"
    echo
    echo "-- $1 catalog: $BACKUPS backups over $CLUSTERS clusters (catalog size at the end, $(cat "$run/size.txt")) --"
    awk -v ratio_min="$TARGET_RATIO" -v p99_max="$TARGET_P99_MS" -v noisy_pct="$NOISY_PCT" -v page="$PAGE" -v max_off="$((BACKUPS - PAGE))" \
        -v s_list="${sizes[0]}" -v s_cluster="${sizes[1]}" -v s_backup="${sizes[2]}" '
        { rps[$1] = $2; p50[$1] = $3 / 1000; p99[$1] = $4 / 1000; bad[$1] = $5 + $6; non2xx[$1] = $5; sock[$1] = $6
          avgb[$1] = $7; srv[$1] = $8; db[$1] = $9; wrk[$1] = $10; busy[$1] = $11; other[$1] = $12
          cpureq[$1] = $2 > 0 ? 10 * ($8 + $9) / $2 : 0
          if ($12 > noisy_pct) noisy = 1 }
        function row(key, name, size, is_list,   r, v, why) {
            r = rps["ceiling-" key] > 0 ? rps[key] / rps["ceiling-" key] : 0
            why = ""
            if (bad[key] > 0) why = why sprintf("; %d failed requests", bad[key])
            if (bad["ceiling-" key] > 0) why = why sprintf("; ceiling had %d failed requests", bad["ceiling-" key])
            if (is_list) {
                if (r < ratio_min) why = why sprintf("; ratio %.2f < %.2f", r, ratio_min)
                if (p99[key] > p99_max) why = why sprintf("; p99 %.1f ms > %d ms", p99[key], p99_max)
                v = why == "" ? "PASS" : "FAIL (" substr(why, 3) ")"
                overall = overall && why == ""
            } else {
                v = why == "" ? "info (not a list endpoint)" : "ERRORS (" substr(why, 3) ")"
                overall = overall && bad[key] == 0 && bad["ceiling-" key] == 0
            }
            printf "%-44s %7d %9.1f %8.2f %8.2f | %9.1f %8.2f %8.2f | %5.2f  %s\n", name, size, rps[key], p50[key], p99[key],
                rps["ceiling-" key], p50["ceiling-" key], p99["ceiling-" key], r, v
        }
        function cpu(key, name) {
            printf "%-44s %6.0f%% %7.0f%% %6.0f%% %6.0f%% %6.0f%%  %8.3f   %6d  %6d %6d\n", name, srv[key], db[key], wrk[key], other[key],
                busy[key], cpureq[key], avgb[key], non2xx[key], sock[key]
        }
        END {
            overall = 1
            printf "%-44s %7s %9s %8s %8s | %9s %8s %8s | %5s  %s\n", "endpoint", "body B", "req/s", "p50 ms", "p99 ms",
                "ceil req/s", "p50 ms", "p99 ms", "ratio", "verdict"
            row("list", "GET /clusters/backups?offset=R&limit=" page, s_list, 1)
            row("cluster", "GET /clusters/{random id}/backups", s_cluster, 1)
            row("backup", "GET /clusters/backups/{random id}", s_backup, 0)
            print ""
            printf "%-44s %7s %8s %7s %7s %7s  %8s   %6s  %6s %6s\n", "CPU during the run (% of one core)", "pgvault", "postgres", "wrk",
                "other", "total", "ms/req", "B/resp", "non2xx", "sockerr"
            cpu("list", "GET /clusters/backups?offset=R (R: 0.." max_off ")")
            cpu("ceiling-list", "  ceiling, " s_list " B")
            cpu("cluster", "GET /clusters/{id}/backups")
            cpu("ceiling-cluster", "  ceiling, " s_cluster " B")
            cpu("backup", "GET /clusters/backups/{id}")
            cpu("ceiling-backup", "  ceiling, " s_backup " B")
            print "(ms/req: CPU time of pgvault + postgres per request, the figure least disturbed by other processes)"
            if (noisy) print "WARNING: other processes used more than " noisy_pct "% of a core during some runs (column other): those figures are skewed"
            print overall ? "OVERALL PASS" : "OVERALL FAIL" > "/dev/stderr"
        }' "$run/measure.tsv" 2>"$run/verdict.txt"
    echo
    echo "deep offsets: GET /clusters/backups?offset=X&limit=$PAGE, one request at a time (curl time_total), and the catalog's"
    echo "queries alone (seek from the cached boundary key + generation lookup, as ListBackupsAsync runs them; sqlite3 .timer"
    echo "user+sys / EXPLAIN (ANALYZE, TIMING OFF) EXECUTE of the prepared statements); medians of $REPS"
    awk 'BEGIN { printf "%10s %9s %9s %9s\n", "backups", "offset", "http ms", "sql ms" }
         { printf "%10d %9d %9.1f %9.2f\n", $1, $2, $3, $4 }' "$run/deep.tsv"
    echo "first request with offset >= $STRIDE after the catalog changed (at $BACKUPS: served by the read model; after the"
    echo "growth: served by the catalog, which rebuilds its page-boundary cache, while the read model reloads):"
    awk '{ printf "%10d %9d %9.1f ms\n", $1, $2, $3 }' "$run/cold.tsv"
    echo "read model: (re)loaded in the background, seconds from the server's start (first row) or the first request after"
    echo "the growth (second row) until it held every backup; RSS of pgvault serve after the measurements (VmRSS, VmHWM peak):"
    awk '{ printf "%10d backups loaded after %6.1f s\n", $1, $2 }' "$run/model.tsv"
    awk '{ printf "%10d backups: RSS %5d MB, peak %5d MB\n", $1, $2 / 1024, $3 / 1024 }' "$run/rss.tsv"
    echo "verdict ($1): $(cat "$run/verdict.txt")"
}

# ----------------------------------------------------------------------------------------------------------------- main
GIT_REV=$(cat "$OUT/pgvault.rev" 2>/dev/null || echo "of unknown revision")
PG_VERSION=""
[[ " $CATALOGS " == *" postgres "* ]] && PG_VERSION=$("$PG_BIN/postgres" --version)
HEADER=$(
    echo "== PgVault API benchmark (bench/api/run.sh) =="
    echo "date:     $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "machine:  $(nproc) CPUs (nproc), $(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)," \
         "$(awk '/MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r)"
    echo "software: pgvault $GIT_REV (Release), .NET $(dotnet --list-runtimes | awk '/Microsoft.AspNetCore.App/ { v = $2 } END { print v }')," \
         "$(wrk --version 2>&1 | head -1 | awk '{ print $1, $2 }'), sqlite3 $(sqlite3 --version | awk '{ print $1 }'), ${PG_VERSION:-no PostgreSQL}"
    echo "load:     wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency per run (after a $WARMUP warm-up per endpoint), wrk on the same machine"
    echo "target:   list endpoints >= ${TARGET_RATIO} x the ceiling's req/s and p99 <= ${TARGET_P99_MS} ms (ceiling = /bench/ceiling, same body size)"
)
log "$(head -2 <<<"$HEADER" | tail -1)"

rm -rf "$OUT/run"
for c in $CATALOGS; do run_catalog "$c"; done

# Both catalogs were filled from the same formulas: their pages must be the same JSON (up to the port in the links).
DATA_CHECK=""
if [[ " $CATALOGS " == *" sqlite "* && " $CATALOGS " == *" postgres "* ]]; then
    a=$(sed 's#http://127\.0\.0\.1:[0-9]*#BASE#g' "$OUT/run/sqlite/page-list.json" | md5sum | cut -d' ' -f1)
    b=$(sed 's#http://127\.0\.0\.1:[0-9]*#BASE#g' "$OUT/run/postgres/page-list.json" | md5sum | cut -d' ' -f1)
    if [[ $a == "$b" ]]; then DATA_CHECK="data check: the page at offset $((BACKUPS / 2)) is identical on both catalogs"
    else DATA_CHECK="data check: WARNING the page at offset $((BACKUPS / 2)) differs between the catalogs"; fi
fi

{
    echo "$HEADER"
    for c in $CATALOGS; do report_catalog "$c"; done
    [[ -n $DATA_CHECK ]] && { echo; echo "$DATA_CHECK"; }
    echo "total time: $(($(date +%s) - STARTED)) s; raw wrk output and logs: ${OUT#"$ROOT"/}/run/<catalog>/"
} | tee "$OUT/results.txt"

status=0
for c in $CATALOGS; do grep -q PASS "$OUT/run/$c/verdict.txt" || status=2; done
exit "$status"
