#!/usr/bin/env bash
# Runs every PgVault test on this machine: installs what the tests need (PostgreSQL 15 server binaries, the
# server builds of 14, 16, 17 and 18 for the version matrix (and 13, which PgVault refuses), the
# `postgres` OS user that runs them when the tests run as root, the npm S3 test server, Chromium and chromedriver for the
# web console's browser tests), restores and builds, then `dotnet test`.
# Ends with one line "tests: N passed, N failed, N skipped". Exit status 0 only when every test passed.
set -euo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# PostgreSQL: the tests start their own clusters with initdb + pg_ctl (Debian's postgresql-15).
pg_bin="${PG_BIN:-/usr/lib/postgresql/15/bin}"
if [ ! -x "$pg_bin/initdb" ]; then
  echo "test.sh: installing PostgreSQL 15 (postgresql-15) for the tests"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null
fi
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
  # PostgreSQL refuses to run as root; the fixture runs it as this user.
  useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
fi

# The web console's browser tests: Debian's Chromium and its WebDriver (chromedriver), driven from the tests with
# Selenium; nothing is downloaded at test time. A font, so screenshots show text.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  echo "test.sh: installing Chromium (chromium, chromium-driver) for the console's browser tests"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core >/dev/null
fi

# The S3-protocol server the storage and engine tests start on loopback: s3rver (npm, pinned in tests/tools/package.json)
# run by tests/tools/s3-server.js; and axe-core, the accessibility checker the console's browser tests inject into its
# pages. Installed into tests/tools/node_modules (gitignored).
if [ ! -d tests/tools/node_modules/s3rver ] || [ ! -d tests/tools/node_modules/axe-core ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "test.sh: installing Node.js and npm (nodejs, npm) for the S3 test server"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  fi
  (cd tests/tools && npm ci --no-audit --no-fund --loglevel=error)
fi

# The other majors' server builds (14, 16, 17, 18, and the refused 13) for the version matrix tests: npm packages pinned in
# tests/tools/postgres, installed into its node_modules (gitignored) and reused while the lock file is unchanged.
tests/tools/install-postgres.sh

dotnet restore PgVault.slnx
dotnet build PgVault.slnx --no-restore -c Debug -v quiet -nologo

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
dotnet test --solution PgVault.slnx --no-build -c Debug 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

# One summary line over all test assemblies (Microsoft Testing Platform prints one block per run).
awk '/^[[:space:]]*succeeded:/ {p+=$2} /^[[:space:]]*failed:/ {f+=$2} /^[[:space:]]*skipped:/ {s+=$2}
     END {printf "tests: %d passed, %d failed, %d skipped\n", p, f, s}' "$log"
exit "$status"
