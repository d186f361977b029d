#!/usr/bin/env bash
# The whole suite: typecheck (the build), lint, then every test tier this machine supports: the lab
# first, on its own, then the rest two files at a time, each run ending with the node test runner's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
# Node 24 from node_modules (the npm package node, see scripts/setup.sh): first on PATH under `npm
# test` already; this makes `bash scripts/test.sh` the same. Every test spawns process.execPath.
export PATH="$PWD/node_modules/.bin:$PATH"
echo "== node $(node --version) ($(readlink -f "$(command -v node)"))"
if [ "$(node -p 'process.versions.node.split(".")[0] >= 24')" != true ]; then
  echo "the tests need Node 24 or newer: run npm run setup (it installs Node 24 into node_modules)" >&2
  exit 1
fi
echo "== typecheck + build"
rm -rf dist
npx tsc -p tsconfig.json
echo "== lint"
npx eslint .
mapfile -t e2e < <(find dist/test/e2e -name '*.test.js' | sort)
mapfile -t files < <(find dist/test -name '*.test.js' -not -path 'dist/test/e2e/*' | sort)
if [ ${#files[@]} -eq 0 ] || [ ${#e2e[@]} -eq 0 ]; then
  echo "no test files found under dist/test" >&2
  exit 1
fi
# The lab's failover tests measure outages in milliseconds: they get the machine to themselves
# (on 2 cores, a file of 10,000-connection floods beside them would be measured instead).
# Both runs always happen; the suite fails if either did. Each ends with the runner's summary.
status=0
echo "== tests: the lab, alone"
node --test --test-reporter=spec --test-concurrency=1 --test-timeout=300000 "${e2e[@]}" || status=$?
echo "== tests: unit and integration, two files at a time"
node --test --test-reporter=spec --test-concurrency=2 --test-timeout=120000 "${files[@]}" || status=$?
exit "$status"
