/**
 * Secrets at rest: AES-256-GCM with a 32-byte key held by the control plane only.
 *
 * Envelope: `v1:<base64 nonce>:<base64 ciphertext||tag>`. The version prefix lets a later format (a
 * key id for rotation, another cipher) sit next to old rows. The nonce is 96 random bits per
 * encryption (NIST SP 800-38D §8.2.2 caps a key at 2^32 random-nonce encryptions: far above what a
 * secrets table sees). The app and secret name are bound as additional authenticated data, so a
 * ciphertext copied to another name or app fails to decrypt instead of leaking under the wrong name.
 *
 * Nothing here ever puts plaintext, key bytes or the key file's contents into an error message or
 * a `cause`; callers may log our errors as they are.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { StarlingError, seal, unseal } from '../../shared/index.js';

export const KEY_BYTES = 32;
const VERSION = 'v1';
export const DEFAULT_KEY_ENV = 'STARLING_SECRETS_KEY';

/** Which secret a ciphertext belongs to. A bare string is a name with no app (app ""). */
export type SecretRef = string | { app: string; name: string };

export interface LoadSecretsKeyOptions {
  /** A key file (hex or base64, 32 bytes); must be mode 0600 or stricter. Wins over the env. */
  file?: string | undefined;
  /** Name of the environment variable holding the key; default STARLING_SECRETS_KEY. */
  env?: string | undefined;
  /** The environment to read (tests inject one); default process.env. */
  environment?: Readonly<Record<string, string | undefined>>;
}

const KEY_HINT = 'generate one with `openssl rand -hex 32`';

/** Decode a key written as 64 hex digits or as base64 (standard or url-safe) of 32 bytes. */
export function parseSecretsKey(text: string, source: string): Buffer {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Buffer.from(t, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}={0,1}$/.test(t)) {
    const b = Buffer.from(t, t.includes('-') || t.includes('_') ? 'base64url' : 'base64');
    if (b.length === KEY_BYTES) return b;
  }
  // Say what shape was expected, never what was found: the text may be a mangled real key.
  throw new StarlingError('ERR_SECRETS_KEY_INVALID', `${source} does not hold a ${KEY_BYTES}-byte key (expected 64 hex digits or base64)`, {
    fault: 'user',
    hint: KEY_HINT,
  });
}

/**
 * The secrets key, from `file` when given, else from the environment variable. A file readable or
 * writable by group or others is refused, as ssh refuses such a private key.
 */
export function loadSecretsKey(opts: LoadSecretsKeyOptions = {}): Buffer {
  if (opts.file !== undefined) return readKeyFile(opts.file);
  const name = opts.env ?? DEFAULT_KEY_ENV;
  const value = (opts.environment ?? process.env)[name];
  if (value === undefined || value.trim() === '') {
    throw new StarlingError('ERR_SECRETS_KEY_MISSING', `no secrets key: neither a key file was configured nor ${name} is set`, {
      fault: 'user',
      hint: `set ${name} or point the control plane at a key file; ${KEY_HINT}`,
    });
  }
  return parseSecretsKey(value, `environment variable ${name}`);
}

function readKeyFile(path: string): Buffer {
  let fd: number;
  try {
    // Symbolic links are followed (Kubernetes mounts secrets through them); fstat below checks the
    // file actually opened.
    fd = openSync(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new StarlingError('ERR_SECRETS_KEY_MISSING', `secrets key file ${path} does not exist`, {
        fault: 'user',
        hint: `create it with \`(umask 077; openssl rand -hex 32 > ${path})\``,
      });
    }
    throw new StarlingError('ERR_SECRETS_KEY_READ', `cannot open secrets key file ${path}: ${code ?? 'unknown error'}`, { fault: 'system' });
  }
  try {
    // fstat on the open descriptor: the mode checked is the mode of the file read (no swap between).
    const st = fstatSync(fd);
    if (!st.isFile()) {
      throw new StarlingError('ERR_SECRETS_KEY_READ', `secrets key path ${path} is not a regular file`, { fault: 'user' });
    }
    const mode = st.mode & 0o777;
    if ((mode & 0o077) !== 0) {
      const octal = mode.toString(8).padStart(4, '0');
      throw new StarlingError(
        'ERR_SECRETS_KEY_MODE',
        `secrets key file ${path} has mode ${octal}: group or others may access it; it must be 0600 or stricter`,
        { fault: 'user', hint: `run \`chmod 600 ${path}\`` },
      );
    }
    return parseSecretsKey(readFileSync(fd, 'utf8'), `secrets key file ${path}`);
  } finally {
    closeSync(fd);
  }
}

/** Write a new random key (hex) to `path`, created exclusively with mode 0600; returns the key. */
export function createSecretsKeyFile(path: string): Buffer {
  const key = randomBytes(KEY_BYTES);
  try {
    writeFileSync(path, `${key.toString('hex')}\n`, { flag: 'wx', mode: 0o600 });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      throw new StarlingError('ERR_SECRETS_KEY_EXISTS', `secrets key file ${path} already exists; refusing to overwrite it`, {
        fault: 'user',
        hint: 'secrets encrypted with the old key would be lost: keep it, or move it away first',
      });
    }
    throw new StarlingError('ERR_SECRETS_KEY_WRITE', `cannot create secrets key file ${path}: ${code ?? 'unknown error'}`, { fault: 'system' });
  }
  return key;
}

function checkKey(key: Buffer): void {
  if (key.length !== KEY_BYTES) {
    throw new StarlingError('ERR_SECRETS_KEY_INVALID', `secrets key must be ${KEY_BYTES} bytes, got ${key.length}`, { fault: 'system' });
  }
}

/** Length-safe AAD: JSON of a tuple cannot make ("a:b","c") and ("a","b:c") collide. */
function aad(ref: SecretRef): Buffer {
  const { app, name } = typeof ref === 'string' ? { app: '', name: ref } : ref;
  return Buffer.from(JSON.stringify(['starling-secret', VERSION, app, name]), 'utf8');
}

function describeRef(ref: SecretRef): string {
  return typeof ref === 'string' ? `secret ${ref}` : `secret ${ref.name} of app ${ref.app}`;
}

export function encryptSecret(key: Buffer, ref: SecretRef, value: string): string {
  checkKey(key);
  return seal(key, aad(ref), value);
}

export function decryptSecret(key: Buffer, ref: SecretRef, envelope: string): string {
  checkKey(key);
  const opened = unseal(key, aad(ref), envelope);
  if (opened.ok) return opened.text;
  throw new StarlingError('ERR_SECRETS_DECRYPT', `cannot decrypt ${describeRef(ref)}: ${opened.why.replace('another name', 'another secret').replace('sealed envelope', 'secrets envelope')}`, {
    fault: 'system',
    hint: 'check that the control plane runs with the key the secret was set with; otherwise set the secret again',
  });
}

/**
 * What the API shows instead of a value: the first 16 hex digits of SHA-256. Stable across keys and
 * hosts, so an operator can compare with `printf %s "$VALUE" | sha256sum`. Unsalted on purpose (as
 * fly's secrets digests); the price is that a low-entropy secret could be guessed offline from it.
 */
export function digest(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex').slice(0, 16);
}
