#!/usr/bin/env bash
# Installs what Starling needs on Debian 12 (as root): the Debian packages its tests and benchmarks
# use, then the npm dependencies, then builds. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# nginx: origin in tests and peer in the benchmark; haproxy: benchmark peer; wrk: load generator;
# pebble: the ACME test CA (with pebble-challtestsrv); openssl: test certificates;
# bird2: the BGP daemon the announcer drives; iproute2: network namespaces (ip netns) and tc for tests;
# bubblewrap: the sandbox runtime driver that runs machines; nftables: each machine's host firewall;
# linux-libc-dev: the kernel's syscall tables, which the seccomp filter's unit test checks against.
PACKAGES=(nginx haproxy wrk pebble openssl bird2 iproute2 bubblewrap nftables linux-libc-dev)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: these Debian packages are missing: ${missing[*]}" >&2
    echo "setup: run as root, or: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  # Packaged daemons must not start on install: tests start their own on loopback.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The lock file pins every dependency; npm ci installs exactly that.
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund
else
  npm install --no-audit --no-fund
fi
npm run build --silent
echo "setup: done"
