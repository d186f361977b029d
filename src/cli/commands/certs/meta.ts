/**
 * `starling certs …`: what the command table knows of them. The verbs act in one of two places
 * (docs/certificates.md):
 *   - the platform: with `--app APP`, or run in an app's directory (its starling.toml/fly.toml
 *     names the app) — the control plane orders the app's certificates and every PoP serves them
 *     (platform.ts);
 *   - the host-local store of `starling proxy serve`: with `--certs DIR` (or an ACME flag of its
 *     own), or anywhere no app is named (add.ts, import.ts, list.ts, show.ts, remove.ts).
 */
import { existsSync } from 'node:fs';
import { defaultAppConfigPath } from '../../app-from-config.js';
import { appFlag, controlFlags, jsonFlag } from '../../flags.js';
import { boolean, defineCommand, oneOf, string, type Option } from '../../kit/index.js';

export const DEFAULT_CERTS_DIR = '.starling/certs';

/** Flags only the host-local store has: any of them means the host-local store (common.ts onPlatform). */
export const LOCAL_ONLY = ['certs', 'acme-directory', 'acme-email', 'acme-ca', 'challenge', 'source'] as const;

/** `--certs DIR`, on every certs command: naming it picks the host-local store. */
export const certsDirFlag = {
  certs: string({ value: 'DIR', description: `the host-local certificate store of starling proxy serve (default ${DEFAULT_CERTS_DIR} when no app is named)` }),
};

/** `--app`: from the app config only when nothing says "host-local", and only when there is an app config. */
function certsAppFlag(): { app: Option<string> } {
  const base = appFlag({ description: "the app whose hostname it is: acts on the control plane (default: the app of ./starling.toml or ./fly.toml)" }).app;
  return {
    app: {
      ...base,
      fallback: async (values, options) => {
        // --platform (import's certificate for no one app) names no app either.
        if (values.platform === true || LOCAL_ONLY.some((k) => values[k] !== undefined)) return undefined as unknown as string;
        if (values.config === undefined && !existsSync(defaultAppConfigPath())) return undefined as unknown as string;
        return base.fallback!(values, options);
      },
    },
  };
}

const platformFlags = { ...certsAppFlag(), ...controlFlags };

export const certsAdd = defineCommand({
  noun: 'certs',
  verb: 'add',
  summary: 'attach a hostname to an app and order its certificate (host-local: order one from an ACME CA into the store)',
  args: ['HOST'],
  options: {
    ...platformFlags,
    cert: string({ value: 'FILE', description: 'with --app: import this PEM chain for HOST instead of ordering one (with --key)' }),
    key: string({ value: 'FILE', description: "with --app: the chain's PEM private key (unencrypted)" }),
    'acme-directory': string({ value: 'URL', description: "host-local: the ACME CA's directory URL (required there)" }),
    'acme-email': string({ value: 'EMAIL', description: 'host-local: contact for the ACME account' }),
    'acme-ca': string({ value: 'FILE', description: "host-local: PEM CA to trust for the ACME server's HTTPS (test CAs)" }),
    challenge: oneOf(['tls-alpn-01', 'http-01'], { description: 'host-local: use only this challenge (default: tls-alpn-01, then http-01)' }),
    ...certsDirFlag,
    ...jsonFlag(),
  },
  load: () => import('./add.js'),
});

const importHint = { hint: 'starling certs import HOST --cert fullchain.pem --key privkey.pem [--app APP]' };

export const certsImport = defineCommand({
  noun: 'certs',
  verb: 'import',
  summary: 'store a custom certificate (PEM chain and key) for a hostname; it beats ACME',
  args: ['HOST'],
  options: {
    cert: string({ value: 'FILE', description: 'PEM certificate chain, leaf first', required: importHint }),
    key: string({ value: 'FILE', description: "the leaf's PEM private key (unencrypted)", required: importHint }),
    ...platformFlags,
    platform: boolean({ description: "a platform certificate on the control plane (the operator's *.<apps_domain>), for no one app" }),
    ...certsDirFlag,
    ...jsonFlag(),
  },
  load: () => import('./import.js'),
});

export const certsList = defineCommand({
  noun: 'certs',
  verb: 'list',
  aliases: ['ls'],
  summary: "an app's hostnames and their certificates (host-local: the store's certificates); never a key",
  options: { ...platformFlags, ...certsDirFlag, ...jsonFlag() },
  load: () => import('./list.js'),
});

export const certsShow = defineCommand({
  noun: 'certs',
  verb: 'show',
  summary: 'one hostname: the certificate served (issuer, expiry, challenge) and the DNS records to create',
  args: ['HOST'],
  options: { ...platformFlags, ...certsDirFlag, ...jsonFlag() },
  load: () => import('./show.js'),
});

export const certsCheck = defineCommand({
  noun: 'certs',
  verb: 'check',
  summary: "order (or retry) an app's certificate now and wait for the outcome; exit 1 unless it is ready (control plane only)",
  args: ['HOST'],
  options: {
    ...platformFlags,
    wait: string({ value: 'SECONDS', description: 'how long to wait for the CA (0 to 120)', default: '30' }),
    ...jsonFlag(),
  },
  load: () => import('./platform.js'),
});

export const certsRemove = defineCommand({
  noun: 'certs',
  verb: 'remove',
  aliases: ['rm'],
  summary: 'detach a custom domain from its app (host-local: delete the certificates filed under it)',
  args: ['HOST'],
  options: { ...platformFlags, source: oneOf(['acme', 'custom'], { description: 'host-local: remove only this one (default: both)' }), ...certsDirFlag },
  load: () => import('./remove.js'),
});
