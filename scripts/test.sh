#!/usr/bin/env bash
# The whole suite: typecheck (the build), lint, then every test tier this machine supports, with the
# node test runner's summary at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== typecheck + build"
rm -rf dist
npx tsc -p tsconfig.json
echo "== lint"
npx eslint .
echo "== tests"
mapfile -t files < <(find dist/test -name '*.test.js' | sort)
if [ ${#files[@]} -eq 0 ]; then
  echo "no test files found under dist/test" >&2
  exit 1
fi
node --test --test-reporter=spec --test-concurrency=2 --test-timeout=120000 "${files[@]}"
