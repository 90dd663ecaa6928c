# Helpers shared by bench/backup/run.sh and bench/restore/run.sh (sourced, not run).
#
# The caller sets, before calling these functions: OUT (outputs), RUNDIR (this run's raw outputs), ROOT (the
# repository), REV and SKIP_BUILD (build_pgvault), PG_BIN, CHECKSUMS, QUIET_WAIT, WORKERS, SCALE, MIXED_SCALE,
# RANDOM_MB, REP and REPS (measure). The functions set WORK, PGDATA and PGPORT (start_cluster), DB_BYTES, DS_RATIO and
# DS_COMPRESSIBLE (make_dataset), SAMPLER_PID while a measurement runs.
# shellcheck shell=bash

STARTED=${STARTED:-$(date +%s)}
log() { printf '[%4ss] %s\n' "$(($(date +%s) - STARTED))" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------------------------- tools
# Installs what is missing with apt-get (pgbackrest, time, zstd, sqlite3) and checks PostgreSQL 15 and the .NET SDK.
need_tools() {
    local need=()
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
}
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
# CPU ticks of the postmaster (of PGDATA, or of the data directory given) and everything it runs: its own, its live
# children's, and those of its exited children (cutime/cstime), so a walsender that ends during a measurement still counts.
pg_ticks() { # [DATA_DIRECTORY]
    local pm
    pm=$(head -1 "${1:-$PGDATA}/postmaster.pid")
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

stop_pid() { if [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; then kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; fi; }

# ---------------------------------------------------------------------------------------------------------------- build
# Builds pgvault (Release) into OUT/pgvault from commit REV (exported with git archive into OUT/src/<sha>), or from the
# working tree when REV is empty; SKIP_BUILD=1 reuses OUT/pgvault. OUT/pgvault.rev names what was built.
build_pgvault() {
    mkdir -p "$OUT"
    if [[ $SKIP_BUILD == 1 && -x $OUT/pgvault/pgvault ]]; then
        log "reusing $OUT/pgvault/pgvault (SKIP_BUILD=1; built from $(cat "$OUT/pgvault.rev" 2>/dev/null || echo '?'))"
        return 0
    fi
    local src_root=$ROOT sha built_rev
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
    log "building pgvault $built_rev (Release, ReadyToRun) into $OUT/pgvault"
    rm -rf "$OUT/pgvault" "$OUT/pgvault.rev"
    # For this machine's runtime, as README's install line: ReadyToRun (precompiled) then applies.
    local rid
    case $(uname -m) in x86_64) rid=linux-x64 ;; aarch64) rid=linux-arm64 ;; *) rid="" ;; esac
    (cd "$src_root" && dotnet publish src/PgVault/PgVault.csproj -c Release ${rid:+-r "$rid" --self-contained false} -o "$OUT/pgvault" \
        --artifacts-path "$OUT/artifacts" -nologo -v q) >"$OUT/build.log" 2>&1 \
        || { cat "$OUT/build.log" >&2; die "dotnet publish failed (log: $OUT/build.log)"; }
    echo "$built_rev" >"$OUT/pgvault.rev"
}

# ------------------------------------------------------------------------------------------------------ the cluster
pg() { PGOPTIONS='-c client_min_messages=warning' "$PSQL" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U postgres -d bench "$@"; }
pgq() { pg -At -c "$1"; }

# A throwaway PostgreSQL 15 cluster in a new WORK=/tmp/NAME.XXXXXX (owned by postgres), with a database "bench".
start_cluster() { # NAME
    WORK=$(mktemp -d "/tmp/$1.XXXXXX")
    chown postgres: "$WORK"
    chmod 755 "$WORK"
    PGDATA=$WORK/data
    PGPORT=$(free_port) || die "no free port"
    log "PostgreSQL 15 cluster in $PGDATA, port $PGPORT"
    local checksum_flag=()
    [[ $CHECKSUMS == 1 ]] && checksum_flag=(--data-checksums)
    as_pg "$PG_BIN/initdb" -D "$PGDATA" -U postgres -A trust -E UTF8 --locale=C "${checksum_flag[@]}" >"$RUNDIR/initdb.log" 2>&1 \
        || { cat "$RUNDIR/initdb.log" >&2; die "initdb failed"; }
    # autovacuum is off so that the files stay the same from one tool to the next (the datasets are vacuumed and frozen
    # once). archive_mode is on from the start (changing it needs a restart); archive_command is /bin/true (WAL thrown
    # away) except while pgBackRest needs its archive-push (see pgbackrest_archiving).
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
}

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
        *) die "unknown dataset $1" ;;
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

# --------------------------------------------------------------------------------------------------------- pgBackRest
# Writes a pgBackRest configuration for the cluster: repository REPO (a directory, created and owned by postgres, or
# "s3:/PATH" in the bucket of start_s3's server), CODEC at LEVEL,
# process-max=WORKERS, start-fast; any further arguments are added to [global] as they are ("archive-async=y", ...).
pgbackrest_conf() { # CONF REPO CODEC LEVEL [GLOBAL_LINE...]
    local conf=$1 repo=$2 codec=$3 level=$4
    shift 4
    mkdir -p "$WORK/pgbackrest-lock"
    chown postgres: "$WORK/pgbackrest-lock"
    if [[ $repo != s3:* ]]; then
        mkdir -p "$repo"
        chown postgres: "$repo"
    fi
    {
        echo "[global]"
        if [[ $repo == s3:* ]]; then
            # REPO "s3:/PATH": PATH in the bucket of the S3 server start_s3 runs (HTTPS with a self-signed certificate:
            # pgBackRest speaks S3 only over TLS, so verify-tls=n).
            cat <<CONF
repo1-type=s3
repo1-path=${repo#s3:}
repo1-s3-bucket=$S3_BUCKET
repo1-s3-endpoint=127.0.0.1
repo1-storage-port=$S3_PORT
repo1-storage-verify-tls=n
repo1-s3-uri-style=path
repo1-s3-region=$S3_REGION
repo1-s3-key=$S3_ACCESS_KEY
repo1-s3-key-secret=$S3_SECRET_KEY
CONF
        else
            echo "repo1-path=$repo"
        fi
        cat <<CONF
repo1-retention-full=1
compress-type=$codec
compress-level=$level
process-max=$WORKERS
start-fast=y
lock-path=$WORK/pgbackrest-lock
log-level-console=info
log-level-file=off
CONF
        local line
        for line in "$@"; do echo "$line"; done
        cat <<CONF

[bench]
pg1-path=$PGDATA
pg1-port=$PGPORT
pg1-socket-path=$WORK
pg1-user=postgres
CONF
    } >"$conf"
    chmod 644 "$conf"
}

# pgBackRest needs WAL archiving into its repository: the stanza created, archive-push as archive_command (reloaded,
# archive_mode is on), and `check` passing (it switches WAL and waits for the segment in the archive). Logs in LOGDIR.
pgbackrest_archiving() { # CONF LOGDIR
    local conf=$1 d=$2
    mkdir -p "$d"
    as_pg pgbackrest --config="$conf" --stanza=bench stanza-create >"$d/stanza-create.txt" 2>&1 \
        || { cat "$d/stanza-create.txt" >&2; die "pgbackrest stanza-create failed"; }
    set_archive_command "pgbackrest --config=$conf --stanza=bench archive-push %p"
    as_pg pgbackrest --config="$conf" --stanza=bench check >"$d/check.txt" 2>&1 \
        || { cat "$d/check.txt" >&2; die "pgbackrest check failed"; }
}

# ---------------------------------------------------------------------------------------------- S3 (s3rver, loopback)
# The S3 server of the S3 tools: tests/tools/s3-server.js (s3rver 3.7.1, as the tests run it; `npm ci` in tests/tools when
# missing), over HTTPS with a self-signed certificate for 127.0.0.1 made here (pgBackRest speaks S3 only over TLS; PgVault
# goes through the same TLS endpoint and trusts the certificate through SSL_CERT_FILE, see pgvault_cmd). A fresh data
# directory WORK/s3 per run, one bucket S3_BUCKET; the server reads its stdin from a FIFO this shell holds open, so it
# exits with the benchmark whatever ends it (stop_s3 stops it first in the cleanup). Sets S3_PID, S3_PORT, S3_ENDPOINT.
S3_BUCKET=bench
S3_REGION=us-east-1
S3_ACCESS_KEY=S3RVER                        # s3rver accepts any credentials
S3_SECRET_KEY=S3RVER
S3_PID=""
S3_PORT=""
S3_ENDPOINT=""
S3_DIR=""
S3_CERT=""
S3_FD=""
start_s3() {
    local tools=$ROOT/tests/tools
    command -v node >/dev/null || die "node is needed for the S3 server (apt-get install nodejs npm)"
    command -v openssl >/dev/null || die "openssl is needed for the S3 server's certificate"
    if [[ ! -d $tools/node_modules/s3rver ]]; then
        log "installing s3rver (npm ci in tests/tools)"
        (cd "$tools" && npm ci --no-audit --no-fund --loglevel=error) >"$RUNDIR/npm-ci.log" 2>&1 \
            || { cat "$RUNDIR/npm-ci.log" >&2; die "npm ci in tests/tools failed"; }
    fi
    S3_DIR=$WORK/s3
    rm -rf "$S3_DIR" "$WORK/s3-tls"
    mkdir -p "$S3_DIR" "$WORK/s3-tls"
    S3_CERT=$WORK/s3-tls/cert.pem
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -addext "subjectAltName=IP:127.0.0.1" \
        -keyout "$WORK/s3-tls/key.pem" -out "$S3_CERT" >"$RUNDIR/s3-cert.log" 2>&1 || { cat "$RUNDIR/s3-cert.log" >&2; die "openssl req failed"; }
    chmod 644 "$S3_CERT"
    rm -f "$WORK/s3-stdin"
    mkfifo "$WORK/s3-stdin"
    node "$tools/s3-server.js" --directory "$S3_DIR" --port 0 --bucket "$S3_BUCKET" \
        --key "$WORK/s3-tls/key.pem" --cert "$S3_CERT" <"$WORK/s3-stdin" >"$RUNDIR/s3-server.out" 2>"$RUNDIR/s3-server.err" &
    S3_PID=$!
    exec {S3_FD}>"$WORK/s3-stdin"
    local deadline=$((SECONDS + 30))
    while ! grep -q '^listening ' "$RUNDIR/s3-server.out"; do
        kill -0 "$S3_PID" 2>/dev/null || { cat "$RUNDIR/s3-server.err" >&2; die "the S3 server exited at start"; }
        (( SECONDS < deadline )) || die "the S3 server did not start in 30 s"
        sleep 0.2
    done
    S3_PORT=$(awk '/^listening / { print $2; exit }' "$RUNDIR/s3-server.out")
    S3_ENDPOINT=https://127.0.0.1:$S3_PORT
    log "S3 server (s3rver $(node -p "require('$tools/node_modules/s3rver/package.json').version")) on $S3_ENDPOINT, bucket $S3_BUCKET, data in $S3_DIR"
}
stop_s3() {
    [[ -n $S3_FD ]] && { exec {S3_FD}>&-; S3_FD=""; }
    stop_pid "$S3_PID"
    S3_PID=""
}
# CPU ticks of the S3 server (0 when none runs): measure records its share of each run.
s3_ticks() { if [[ -n $S3_PID ]]; then awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$S3_PID/stat" 2>/dev/null || echo 0; else echo 0; fi; }
# Bytes of the objects under a key prefix of the bucket whose keys match the find -path pattern (default: all).
s3_bytes() { # PREFIX [PATH_PATTERN]
    [[ -d $S3_DIR/$S3_BUCKET/$1 ]] || { echo 0; return 0; }
    find "$S3_DIR/$S3_BUCKET/$1" -type f -name '*._S3rver_object' -path "${2:-*}" -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'
}
s3_rm() { rm -rf "${S3_DIR:?}/$S3_BUCKET/${1:?}"; } # PREFIX: its objects gone (s3rver keeps no index beside the files)

# --------------------------------------------------------------------------------------------- PgVault's variants
# The PgVault "tools": pgvault (local repository, configured on the command line as before), pgvault-enc (local,
# encrypted), pgvault-s3 (an s3 location on start_s3's server, prefix = the tool's name), pgvault-s3-enc (both).
# pgvault_conf writes the whole configuration of a variant into a JSON file (what restore's wal-fetch child reads with
# --config); the encryption key is made once per run (openssl rand). The caller sets CLUSTER_ID and the cluster's PGPORT.
is_pgvault_tool() { [[ $1 == pgvault || $1 == pgvault-enc || $1 == pgvault-s3 || $1 == pgvault-s3-enc ]]; }
PGVAULT_KEY=""
pgvault_conf() { # FILE DATA_DIRECTORY TOOL
    local file=$1 dd=$2 tool=$3 location encryption="" level
    # PGVAULT_LEVEL (bench/backup): "default" leaves PgVault's own level; otherwise that level, else LEVEL (bench/restore).
    if [[ ${PGVAULT_LEVEL:-} == default ]]; then level=""; else level="\"CompressionLevel\": ${PGVAULT_LEVEL:-$LEVEL}, "; fi
    if [[ $tool == *-enc ]]; then
        [[ -n $PGVAULT_KEY ]] || PGVAULT_KEY=$(openssl rand -base64 32)
        encryption=", \"Encryption\": { \"KeyId\": \"bench\", \"Keys\": { \"bench\": \"base64:$PGVAULT_KEY\" } }"
    fi
    if [[ $tool == pgvault-s3* ]]; then
        [[ -n $S3_ENDPOINT ]] || die "$tool needs the S3 server (start_s3)"
        location="\"Type\": \"s3\", \"Endpoint\": \"$S3_ENDPOINT\", \"Region\": \"$S3_REGION\", \"Bucket\": \"$S3_BUCKET\",
        \"Prefix\": \"$tool\", \"ForcePathStyle\": true, \"AccessKeyId\": \"$S3_ACCESS_KEY\", \"SecretAccessKey\": \"$S3_SECRET_KEY\""
    else
        location="\"Type\": \"filesystem\", \"Path\": \"$dd/repository\""
    fi
    cat >"$file" <<JSON
{
  "PgVault": {
    "DataDirectory": "$dd",
    "Locations": { "bench": { $location$encryption } },
    "Clusters": [ { "Id": "$CLUSTER_ID", "ConnectionString": "Host=127.0.0.1;Port=$PGPORT;Username=postgres", "BackupLocation": "bench" } ],
    "Engine": { $level"CompressionWorkers": $WORKERS, "PostgresBinDirectory": "$PG_BIN" }
  }
}
JSON
    chmod 600 "$file"
}
# The command that runs pgvault: "env SSL_CERT_FILE=<the S3 server's certificate> pgvault" once start_s3 ran (OpenSSL,
# which .NET uses on Linux, then trusts that certificate instead of the system's CA bundle; only loopback is reached).
pgvault_cmd() { if [[ -n $S3_CERT ]]; then echo env "SSL_CERT_FILE=$S3_CERT" "$PGVAULT"; else echo "$PGVAULT"; fi; }
# Base and WAL bytes of a variant's repository ("BASE WAL"): the chains' base/ and wal/ folders (S3: object files).
pgvault_repo_bytes() { # DATA_DIRECTORY TOOL
    local dd=$1 tool=$2
    if [[ $tool == pgvault-s3* ]]; then
        echo "$(s3_bytes "$tool" '*/chains/*/base/*') $(s3_bytes "$tool" '*/chains/*/wal/*')"
    else
        echo "$(find "$dd/repository" -type d -path '*/chains/*/base' -exec du -sb {} + 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')" \
             "$(find "$dd/repository" -type d -path '*/chains/*/wal' -exec du -sb {} + 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')"
    fi
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
# Before it: a CHECKPOINT of the cluster (MEASURE_CHECKPOINT=0 skips it) and a wait for idle CPUs.
measure() { # DATASET TOOL COMMAND...   (the repetition is $REP)
    local ds=$1 tool=$2 dir=$RUNDIR/$1/$2/$REP
    shift 2
    mkdir -p "$dir"
    [[ ${MEASURE_CHECKPOINT:-1} == 1 ]] && pgq "CHECKPOINT" >/dev/null
    wait_quiet
    local load t0 t1 m0 m1 p0 p1 status=ok
    load=$(cut -d' ' -f1 /proc/loadavg)
    uptime >"$dir/uptime.txt"
    log "$ds / $tool (run $REP of $REPS): $* (load $load)"
    local s0 s1
    s0=$(s3_ticks)
    m0=$(machine_ticks); p0=$(pg_ticks); t0=$(now_us)
    /usr/bin/time -v -o "$dir/time.txt" "$@" >"$dir/stdout.txt" 2>"$dir/stderr.txt" &
    local tpid=$!
    : >"$dir/rss.txt"
    : >"$dir/rss.txt.cpu"
    rss_sampler "$tpid" "$dir/rss.txt" &
    SAMPLER_PID=$!
    wait "$tpid" || status="FAILED(exit $?)"
    t1=$(now_us); m1=$(machine_ticks); p1=$(pg_ticks); s1=$(s3_ticks)
    # The S3 server's CPU during the run (part of "other"): "ds tool rep s3_cpu_s" in RUNDIR/s3cpu.tsv.
    [[ -n $S3_PID ]] && awk -v a="$s0" -v b="$s1" -v hz="$CLK_TCK" -v k="$ds $tool $REP" 'BEGIN { printf "%s %.2f\n", k, (b - a) / hz }' >>"$RUNDIR/s3cpu.tsv"
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

# ------------------------------------------------------------------------------------------ S3 report and verdicts
# For bench/backup and bench/restore: figures and verdicts of the S3 and encrypted tools of one dataset, from the
# script's summary.tsv (columns: ds tool status runs wall_med ...; CPU in column CPUCOL) and RUNDIR/s3cpu.tsv.
# speed = MB/s ratio = inverse ratio of the median walls (same database bytes); encryption cost = 1 - MB/s(enc) / MB/s(plain).
s3_report() { # DATASET SUMMARY CPUCOL
    awk -v ds="$1" -v cc="$3" '
        function med(str,   n, a, i, j, x) { n = split(str, a, " "); for (i = 2; i <= n; i++) { x = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
                                             return n == 0 ? 0 : (n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2) }
        FILENAME ~ /s3cpu/ { if ($1 == ds && $2 ~ /-s3/) s3[$2] = s3[$2] " " $4; next }
        $1 == ds { st[$2] = $3; wall[$2] = $5; cpu[$2] = $cc }
        function ok(t) { return (t in st) && st[t] == "ok" && wall[t] > 0 }
        END {
            s = ""; for (t in s3) s = s sprintf(" %s %.1f s,", t, med(s3[t]))
            if (s != "") print "S3 server (s3rver, one node process) CPU per run, median:" substr(s, 1, length(s) - 1) " (in \"other\", not in \"CPU s\")"
            if (ok("pgvault-s3") && ok("pgbackrest-s3"))
                printf "S3: pgvault-s3 / pgbackrest-s3 speed %.2fx; CPU s tool + S3 server: pgvault-s3 %.1f + %.1f, pgbackrest-s3 %.1f + %.1f\n",
                    wall["pgbackrest-s3"] / wall["pgvault-s3"], cpu["pgvault-s3"], med(s3["pgvault-s3"]), cpu["pgbackrest-s3"], med(s3["pgbackrest-s3"])
            if (ok("pgvault-s3") && ok("pgvault"))
                printf "S3 vs local: pgvault-s3 MB/s = %.0f %% of pgvault'"'"'s (local repository)\n", 100 * wall["pgvault"] / wall["pgvault-s3"]
            if (ok("pgbackrest-s3") && ok("pgbackrest-zst"))
                printf "S3 vs local: pgbackrest-s3 MB/s = %.0f %% of pgbackrest-zst'"'"'s (local repository)\n", 100 * wall["pgbackrest-zst"] / wall["pgbackrest-s3"]
            if (ok("pgvault-s3-enc") && ok("pgvault-s3"))
                printf "encryption over S3: pgvault-s3-enc MB/s = %.1f %% of pgvault-s3'"'"'s (cost %.1f %%); CPU s %.1f vs %.1f\n",
                    100 * wall["pgvault-s3"] / wall["pgvault-s3-enc"], 100 * (1 - wall["pgvault-s3"] / wall["pgvault-s3-enc"]), cpu["pgvault-s3-enc"], cpu["pgvault-s3"]
            if (ok("pgvault-enc") && ok("pgvault"))
                printf "encryption, local: pgvault-enc MB/s = %.1f %% of pgvault'"'"'s (cost %.1f %%); CPU s %.1f vs %.1f\n",
                    100 * wall["pgvault"] / wall["pgvault-enc"], 100 * (1 - wall["pgvault"] / wall["pgvault-enc"]), cpu["pgvault-enc"], cpu["pgvault"]
        }' "$RUNDIR/s3cpu.tsv" "$2" 2>/dev/null || true
}
# Verdict lines (exit 1 when one fails) for the pairs present: pgvault-s3 >= SPEED x pgbackrest-s3; each encrypted
# variant's MB/s >= (100 - COST) % of its plain one's.
s3_verdicts() { # DATASET SUMMARY SPEED COST WHAT
    awk -v ds="$1" -v ts="$3" -v tc="$4" -v what="$5" '
        $1 == ds { st[$2] = $3; wall[$2] = $5; seen[$2] = 1 }
        function pair(a, b, label,   r, v) {
            if (!(a in seen) || !(b in seen)) return
            if (st[a] != "ok" || st[b] != "ok") { printf "verdict (%s, %s): FAIL (%s or %s did not complete every run)\n", ds, label, a, b; bad = 1; return }
            r = wall[b] / wall[a]
            if (label == "S3") { v = r >= ts ? "PASS" : "FAIL"; printf "verdict (%s, S3): %s speed %.2fx %s (target >= %.2f) %s\n", ds, what, r, b, ts, v }
            else { c = 100 * (1 - r); v = c <= tc ? "PASS" : "FAIL"
                   printf "verdict (%s, %s): %s MB/s %.1f %% of %s'"'"'s, encryption cost %.1f %% (target <= %d %%) %s\n", ds, label, a, 100 * r, b, c, tc, v }
            if (v == "FAIL") bad = 1
        }
        END { pair("pgvault-s3", "pgbackrest-s3", "S3"); pair("pgvault-s3-enc", "pgvault-s3", "encryption over S3")
              pair("pgvault-enc", "pgvault", "encryption, local"); exit bad }' "$2"
}
