#!/usr/bin/env bash
# Regenerates the web console's screenshots in the README (docs/images/console-overview.png, console-timeline.png):
# runs the console's browser tests (a real PostgreSQL cluster backed up by `pgvault serve`, Debian's headless Chromium)
# with their screenshots sent to a temporary directory, and copies the two the README shows. Needs what ./test.sh
# installs (PostgreSQL 15, chromium, chromium-driver).
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
shots=$(mktemp -d)
trap 'rm -rf "$shots"' EXIT
dotnet build PgVault.slnx -c Debug -v quiet -nologo
PGVAULT_SCREENSHOTS="$shots" dotnet test --project tests/PgVault.Engine.Tests --no-build -c Debug \
  --filter-class 'PgVault.Engine.Tests.WebConsole.ConsoleBrowserTests'
mkdir -p docs/images
cp "$shots/overview.png" docs/images/console-overview.png
cp "$shots/timeline.png" docs/images/console-timeline.png
echo "docs/images/console-overview.png and docs/images/console-timeline.png regenerated"
