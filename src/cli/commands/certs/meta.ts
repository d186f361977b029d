/** `starling certs …`: what the command table knows of them (add.ts, import.ts, list.ts, show.ts, remove.ts run them). */
import { jsonFlag } from '../../flags.js';
import { defineCommand, oneOf, string } from '../../kit/index.js';

export const DEFAULT_CERTS_DIR = '.starling/certs';

/** `--certs DIR`, on every certs command. */
export const certsDirFlag = {
  certs: string({ value: 'DIR', description: 'certificate store, shared by the proxies of every PoP', default: DEFAULT_CERTS_DIR }),
};

export const certsAdd = defineCommand({
  noun: 'certs',
  verb: 'add',
  summary: 'order a certificate for a hostname from an ACME CA into the store',
  args: ['HOST'],
  options: {
    'acme-directory': string({
      value: 'URL',
      description: "the ACME CA's directory URL",
      required: {
        message: 'missing --acme-directory URL',
        hint: "Let's Encrypt: --acme-directory https://acme-v02.api.letsencrypt.org/directory (staging: acme-staging-v02)",
      },
    }),
    'acme-email': string({ value: 'EMAIL', description: 'contact for the ACME account' }),
    'acme-ca': string({ value: 'FILE', description: "PEM CA to trust for the ACME server's HTTPS (test CAs)" }),
    challenge: oneOf(['tls-alpn-01', 'http-01'], { description: 'use only this challenge (default: tls-alpn-01, then http-01)' }),
    ...certsDirFlag,
    ...jsonFlag(),
  },
  load: () => import('./add.js'),
});

const importHint = { hint: 'starling certs import HOST --cert fullchain.pem --key privkey.pem' };

export const certsImport = defineCommand({
  noun: 'certs',
  verb: 'import',
  summary: 'store a custom certificate (PEM chain and key) for a hostname; it beats ACME',
  args: ['HOST'],
  options: {
    cert: string({ value: 'FILE', description: 'PEM certificate chain, leaf first', required: importHint }),
    key: string({ value: 'FILE', description: "the leaf's PEM private key (unencrypted)", required: importHint }),
    ...certsDirFlag,
    ...jsonFlag(),
  },
  load: () => import('./import.js'),
});

export const certsList = defineCommand({
  noun: 'certs',
  verb: 'list',
  aliases: ['ls'],
  summary: 'list the certificates in the store (never their keys)',
  options: { ...certsDirFlag, ...jsonFlag() },
  load: () => import('./list.js'),
});

export const certsShow = defineCommand({
  noun: 'certs',
  verb: 'show',
  summary: 'show the certificates for one hostname and which one is served',
  args: ['HOST'],
  options: { ...certsDirFlag, ...jsonFlag() },
  load: () => import('./show.js'),
});

export const certsRemove = defineCommand({
  noun: 'certs',
  verb: 'remove',
  aliases: ['rm'],
  summary: 'delete the certificate(s) filed under a hostname',
  args: ['HOST'],
  options: { source: oneOf(['acme', 'custom'], { description: 'remove only this one (default: both)' }), ...certsDirFlag },
  load: () => import('./remove.js'),
});
