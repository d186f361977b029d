/** `starling lab …`: what the command table knows of them (up.ts, status.ts, exec.ts, fail.ts, failover.ts, down.ts run them). */
import { jsonFlag } from '../../flags.js';
import { boolean, defineCommand, oneOf, string } from '../../kit/index.js';

/** DEFAULT_LAB of src/lab, written out so that help needs no lab code; a unit test keeps them equal. */
export const DEFAULT_LAB_NAME = 'default';

/** `--name LAB`, on every lab command. */
export const labNameFlag = {
  name: string({ value: 'LAB', description: 'which lab: 1-8 of a-z and 0-9; it prefixes every namespace', default: DEFAULT_LAB_NAME }),
};

const modeFlag = {
  mode: oneOf(['crash', 'silent', 'graceful'], {
    value: 'MODE',
    description: 'crash (SIGKILL the agent and its BIRD), silent (the link drops every frame; BFD notices) or graceful (agent drain)',
    required: { message: '--mode is required: crash, silent or graceful' },
  }),
};

export const labUpCmd = defineCommand({
  noun: 'lab',
  verb: 'up',
  summary: 'build the lab: routers, control plane, one agent per PoP host, the demo app; then measure the catchment',
  options: {
    preset: string({ value: 'NAME', description: 'a built-in topology: default (5 cities, 3 PoPs) or us (default: default)' }),
    topology: string({ value: 'FILE', description: 'a topology file instead of a preset (TOML, or JSON ending in .json; docs/lab-topology.md)' }),
    ...labNameFlag,
  },
  load: () => import('./up.js'),
});

export const labStatusCmd = defineCommand({
  noun: 'lab',
  verb: 'status',
  summary: "the lab now: routers' BGP sessions, each PoP's announce state, the certificates, the catchment measured by HTTP",
  options: { ...jsonFlag(), ...labNameFlag },
  load: () => import('./status.js'),
});

export const labExecCmd = defineCommand({
  noun: 'lab',
  verb: 'exec',
  args: ['CITY', 'CMD...'],
  summary: "run a command in a city's client namespace (or a PoP host's, a router's, the control plane's)",
  options: { ...labNameFlag },
  load: () => import('./exec.js'),
});

export const labCurlCmd = defineCommand({
  noun: 'lab',
  verb: 'curl',
  args: ['CITY', 'URL'],
  summary: "an HTTP(S) GET from a city's client namespace: http(s)://APP.starling.test/ is that app at the anycast address; else Host is the demo app's unless --host says otherwise; https trusts the lab's Pebble root",
  options: {
    host: string({ value: 'HOST', description: 'the Host header, and for https the SNI and the certificate name (default: demo.starling.test, the demo app)' }),
    include: boolean({ description: 'print the status line and the response headers too (for https, first the TLS version, ALPN protocol and certificate)' }),
    http2: boolean({ description: 'HTTP/2 over TLS, by ALPN (https:// URLs only)' }),
    4: boolean({ short: '4', description: "over IPv4 (the default): an app's name is the IPv4 anycast address" }),
    6: boolean({ short: '6', description: "over IPv6: an app's name is the IPv6 anycast address (2001:db8:200::1 by default)" }),
    ...labNameFlag,
  },
  load: () => import('./exec.js'),
});

export const labFailCmd = defineCommand({
  noun: 'lab',
  verb: 'fail',
  args: ['POP'],
  summary: 'fail a PoP host (lhr1) or every host of a PoP (lhr): crash, silent or graceful',
  options: { ...modeFlag, ...labNameFlag },
  load: () => import('./fail.js'),
});

export const labHealCmd = defineCommand({
  noun: 'lab',
  verb: 'heal',
  args: ['POP'],
  summary: 'undo lab fail: restart the agent, restore the link or undrain; wait until it announces again',
  options: { ...labNameFlag },
  load: () => import('./fail.js'),
});

export const labFailoverCmd = defineCommand({
  noun: 'lab',
  verb: 'failover',
  args: ['POP'],
  summary: "fail a PoP while its cities' clients make a fresh request every 20 ms; print each city's outage",
  options: {
    ...modeFlag,
    'keep-failed': boolean({ description: 'leave the PoP failed afterwards (default: heal it)' }),
    https: boolean({ description: "HTTPS clients: a fresh TLS connection per request (SNI demo.starling.test, the lab's Pebble root trusted)" }),
    ...jsonFlag(),
    ...labNameFlag,
  },
  load: () => import('./failover.js'),
});

export const labUseCmd = defineCommand({
  noun: 'lab',
  verb: 'use',
  args: ['[NAME]'],
  summary: "send the control-plane commands (deploy, status, logs, …) to a lab's control plane from now on",
  options: {
    clear: boolean({ description: 'stop: back to control_url / STARLING_CONTROL_URL' }),
  },
  load: () => import('./use.js'),
});

export const labDownCmd = defineCommand({
  noun: 'lab',
  verb: 'down',
  summary: 'take the lab down: its processes, namespaces and files (idempotent; also after a crash)',
  options: { ...labNameFlag },
  load: () => import('./down.js'),
});
