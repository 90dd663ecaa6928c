#!/usr/bin/env bash
# PgVault API under a wrong-password flood: how many bad HTTP Basic requests per second the server absorbs, and the p99
# of token-authenticated requests made at the same time.
#
#   bash bench/api/flood.sh                 (from the repository root; see bench/README.md)
#   REV=<commit> bash bench/api/flood.sh    (measure that commit instead of the working tree)
#
# It builds pgvault (Release), starts `pgvault serve` (SQLite catalog, one user "alice" with the default PBKDF2 cost of
# 600,000 iterations, one token, request rate limit off so only the login defences act) and runs, with wrk:
#   1. quiet:   the token load alone: GET /clusters with the token, TOKEN_CONNECTIONS connections, one request every
#               TOKEN_DELAY_MS per connection;
#   2. paced:   the token load plus a paced flood: FLOOD_PACED_CONNECTIONS connections sending wrong Basic credentials,
#               FLOOD_PACED_RPS requests/s in all (the issue's live run: 6 threads, 14 requests/s);
#   3. full:    the token load plus an unpaced flood: FLOOD_CONNECTIONS connections sending wrong credentials as fast
#               as the server answers.
# Each phase lasts DURATION. The report gives, per phase: the token load's req/s, p50 and p99, and the flood's req/s and
# answers (401: the password was checked; 429: refused before the check).
# Knobs: DURATION=20s TOKEN_CONNECTIONS=4 TOKEN_DELAY_MS=10 FLOOD_PACED_CONNECTIONS=6 FLOOD_PACED_RPS=14
#   FLOOD_CONNECTIONS=32 SKIP_BUILD=1 REV=<commit> OUT=bench/api/out/flood
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${OUT:-$HERE/out/flood}
DURATION=${DURATION:-20s}
TOKEN_CONNECTIONS=${TOKEN_CONNECTIONS:-4}
TOKEN_DELAY_MS=${TOKEN_DELAY_MS:-10}
FLOOD_PACED_CONNECTIONS=${FLOOD_PACED_CONNECTIONS:-6}
FLOOD_PACED_RPS=${FLOOD_PACED_RPS:-14}
FLOOD_CONNECTIONS=${FLOOD_CONNECTIONS:-32}
SKIP_BUILD=${SKIP_BUILD:-0}
REV=${REV:-}
LUA=$HERE/flood.lua
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

STARTED=$(date +%s)
# log, die, free_port and build_pgvault (Release, ReadyToRun) come from the benchmarks' shared helpers.
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
# shellcheck source=../lib.sh
source "$ROOT/bench/lib.sh"
as_root() { if [[ $(id -u) == 0 ]]; then "$@"; else sudo "$@"; fi; }
command -v wrk >/dev/null || { as_root apt-get update -qq; as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
command -v curl >/dev/null || die "curl is required"

SERVER_PID=""
WORK=""
cleanup() {
    set +e
    [[ -n $SERVER_PID ]] && { kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; }
    [[ -n $WORK ]] && rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------------------------- build
build_pgvault
PGVAULT=$OUT/pgvault/pgvault

# --------------------------------------------------------------------------------------------------------------- serve
WORK=$(mktemp -d /tmp/pgvault-flood.XXXXXX)
TOKEN_OUT=$("$PGVAULT" token create --name bench)
TOKEN=$(awk '/^token: / { print $2 }' <<<"$TOKEN_OUT")
TOKEN_ENTRY=$(grep '^{' <<<"$TOKEN_OUT")
[[ $TOKEN == pgv_* ]] || die "unexpected output of 'pgvault token create': $TOKEN_OUT"
HASH=$(printf 'flood-correct-password\n' | "$PGVAULT" hash-password)
cat >"$WORK/pgvault.json" <<JSON
{ "PgVault": {
    "DataDirectory": "$WORK/data",
    "Users": [ { "Name": "alice", "PasswordHash": "$HASH", "Clusters": ["*"] } ],
    "Tokens": [ $TOKEN_ENTRY ],
    "RateLimit": { "PermitsPerSecond": 0 } } }
JSON
PORT=$(free_port) || die "no free port"
BASE="http://127.0.0.1:$PORT"
"$PGVAULT" serve --config "$WORK/pgvault.json" --urls "$BASE" >"$OUT/serve.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do curl -fsS "$BASE/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fsS "$BASE/healthz" >/dev/null || die "pgvault serve did not start (log: $OUT/serve.log)"
BAD="Authorization: Basic $(printf 'alice:wrong-password' | base64 -w0)"
GOOD="Authorization: Bearer $TOKEN"
# Warm-up: JIT and the first requests of both kinds.
wrk -t1 -c2 -d3s -H "$GOOD" -s "$LUA" "$BASE" -- /clusters 0 >/dev/null

field() { sed -n "s/.*\b$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
token_load() { wrk -t1 -c"$TOKEN_CONNECTIONS" -d"$DURATION" -H "$GOOD" -s "$LUA" "$BASE" -- /clusters "$TOKEN_DELAY_MS" | grep '^RESULT'; }
flood() { # CONNECTIONS DELAY_MS
    wrk -t"$(( $1 < 2 ? 1 : 2 ))" -c"$1" -d"$DURATION" --timeout 10s -H "$BAD" -s "$LUA" "$BASE" -- /clusters "$2" | grep '^RESULT'
}

report() { # PHASE TOKEN_RESULT FLOOD_RESULT
    local t=$2 f=${3:-}
    printf '%-8s %9.1f %9.2f %9.2f | ' "$1" "$(field rps "$t")" "$(bc -l <<<"$(field p50_us "$t") / 1000")" \
        "$(bc -l <<<"$(field p99_us "$t") / 1000")"
    if [[ -n $f ]]; then
        printf '%9.1f %7d %7d %7d %7d\n' "$(field rps "$f")" "$(field s401 "$f")" "$(field s429 "$f")" \
            "$(field sother "$f")" "$(field sockerr "$f")"
    else
        printf '%9s %7s %7s %7s %7s\n' - - - - -
    fi
}

log "phase quiet: the token load alone"
quiet=$(token_load)
log "phase paced: $FLOOD_PACED_RPS wrong-password requests/s over $FLOOD_PACED_CONNECTIONS connections"
paced_delay=$(( FLOOD_PACED_CONNECTIONS * 1000 / FLOOD_PACED_RPS ))
flood "$FLOOD_PACED_CONNECTIONS" "$paced_delay" >"$WORK/paced" &
fp=$!
paced=$(token_load)
wait "$fp"
log "phase full: wrong passwords as fast as $FLOOD_CONNECTIONS connections go"
flood "$FLOOD_CONNECTIONS" 0 >"$WORK/full" &
ff=$!
full=$(token_load)
wait "$ff"

{
    echo "== PgVault wrong-password flood (bench/api/flood.sh) =="
    echo "date:     $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "machine:  $(nproc) CPUs, $(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
    echo "software: pgvault $(cat "$OUT/pgvault.rev") (Release), $(wrk --version 2>&1 | head -1 | awk '{ print $1, $2 }')"
    echo "load:     token: wrk -c$TOKEN_CONNECTIONS, one request per ${TOKEN_DELAY_MS} ms per connection; phases of $DURATION"
    echo
    printf '%-8s %9s %9s %9s | %9s %7s %7s %7s %7s\n' phase "token r/s" "p50 ms" "p99 ms" "flood r/s" 401 429 other sockerr
    report quiet "$quiet"
    report paced "$paced" "$(cat "$WORK/paced")"
    report full "$full" "$(cat "$WORK/full")"
} | tee "$OUT/results-$(cat "$OUT/pgvault.rev" | cut -d' ' -f1).txt"
