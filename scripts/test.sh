#!/usr/bin/env bash
# The whole suite: typecheck (the build), lint, then every test tier this machine supports, in one
# run of the node test runner, two files at a time (the lab's e2e beside the rest), ending with its
# summary. Tests check outcomes and order, never durations (those are the benchmarks'), so they
# hold on a loaded machine.
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
mapfile -t files < <(find dist/test -name '*.test.js' | sort)
if [ ${#files[@]} -eq 0 ] || ! printf '%s\n' "${files[@]}" | grep -q '^dist/test/e2e/'; then
  echo "no test files found under dist/test (or none under dist/test/e2e)" >&2
  exit 1
fi
echo "== tests: ${#files[@]} files, two at a time"
exec node --test --test-reporter=spec --test-concurrency=2 --test-timeout=300000 "${files[@]}"
