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
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { StarlingError } from '../../shared/index.js';

export const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
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
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad(ref));
  const body = Buffer.concat([cipher.update(value, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return `${VERSION}:${nonce.toString('base64')}:${body.toString('base64')}`;
}

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

export function decryptSecret(key: Buffer, ref: SecretRef, envelope: string): string {
  checkKey(key);
  const fail = (why: string): StarlingError =>
    new StarlingError('ERR_SECRETS_DECRYPT', `cannot decrypt ${describeRef(ref)}: ${why}`, {
      fault: 'system',
      hint: 'check that the control plane runs with the key the secret was set with; otherwise set the secret again',
    });
  const parts = envelope.split(':');
  if (parts.length !== 3) throw fail('not a secrets envelope');
  const [version, nonceB64, bodyB64] = parts as [string, string, string];
  if (version !== VERSION) {
    throw fail(/^v\d{1,4}$/.test(version) ? `unsupported envelope version ${version}` : 'not a secrets envelope');
  }
  if (!B64.test(nonceB64) || !B64.test(bodyB64)) throw fail('malformed envelope');
  const nonce = Buffer.from(nonceB64, 'base64');
  const body = Buffer.from(bodyB64, 'base64');
  if (nonce.length !== NONCE_BYTES || body.length < TAG_BYTES) throw fail('malformed envelope');
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad(ref));
  decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
  const head = decipher.update(body.subarray(0, body.length - TAG_BYTES));
  try {
    const tail = decipher.final();
    return Buffer.concat([head, tail]).toString('utf8');
  } catch {
    // GCM released unauthenticated bytes from update(): wipe them rather than let them linger.
    head.fill(0);
    throw fail('wrong key, or the ciphertext was altered or belongs to another secret');
  }
}

/**
 * What the API shows instead of a value: the first 16 hex digits of SHA-256. Stable across keys and
 * hosts, so an operator can compare with `printf %s "$VALUE" | sha256sum`. Unsalted on purpose (as
 * fly's secrets digests); the price is that a low-entropy secret could be guessed offline from it.
 */
export function digest(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex').slice(0, 16);
}
