#!/usr/bin/env bash
# Builds and runs the compression benchmark in Release; build output goes to bench/compression/out (ignored by git).
# Usage: bench/compression/run.sh [--size-mib N] [--repeat N]
set -euo pipefail
cd "$(dirname "$0")"
dotnet run --project Compression.Bench.csproj -c Release --artifacts-path out -- "$@"
