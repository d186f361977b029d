/**
 * A host's WireGuard key pair (Curve25519, RFC 7748), made by the agent on its first start and kept
 * in its state directory as `wg genkey` writes it: the private key in base64, one line, mode 0600.
 * The private key never leaves this file and the device; only the public key is registered.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { StarlingError, type Logger } from '../shared/index.js';

export interface MeshKeys {
  /** base64 of the 32-byte private key: for the device only. */
  privateKey: string;
  /** base64 of the 32-byte public key: what other hosts know this one by. */
  publicKey: string;
}

/** The DER head of a PKCS #8 X25519 private key; the 32 raw bytes follow it. */
const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const KEY_B64 = /^[A-Za-z0-9+/]{43}=$/;

export function isWireguardKey(s: string): boolean {
  return KEY_B64.test(s) && Buffer.from(s, 'base64').length === 32;
}

export function generateMeshKeys(): MeshKeys {
  const { privateKey } = generateKeyPairSync('x25519');
  const raw = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(-32);
  return keysFrom(raw);
}

/** The public key of a base64 private key. */
export function publicKeyOf(privateKey: string): string {
  return keysFrom(Buffer.from(privateKey, 'base64')).publicKey;
}

function keysFrom(raw: Buffer): MeshKeys {
  const priv = createPrivateKey({ key: Buffer.concat([PKCS8_X25519, raw]), format: 'der', type: 'pkcs8' });
  const pub = createPublicKey(priv).export({ format: 'der', type: 'spki' }).subarray(-32);
  return { privateKey: raw.toString('base64'), publicKey: pub.toString('base64') };
}

/**
 * The key pair in `file`, made (0600, its directory 0700) when the file does not exist. A file that
 * others may read is narrowed to 0600 with a warning; a file that does not hold a key is an error
 * (a new key would cut the host off from every peer that knows the old one).
 */
export async function loadOrCreateMeshKeys(file: string, logger: Logger): Promise<MeshKeys> {
  let text: string | undefined;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new StarlingError('ERR_MESH_KEY', `cannot read the WireGuard key ${file}: ${(e as Error).message}`);
  }
  if (text === undefined) {
    const keys = generateMeshKeys();
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    await writeFile(file, `${keys.privateKey}\n`, { mode: 0o600, flag: 'wx' });
    logger.info('WireGuard key pair made', { file, public_key: keys.publicKey });
    return keys;
  }
  const key = text.trim();
  if (!isWireguardKey(key)) throw new StarlingError('ERR_MESH_KEY', `${file} does not hold a WireGuard private key (base64 of 32 bytes, as wg genkey writes): move it away to make a new one`);
  const mode = (await stat(file)).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    await chmod(file, 0o600);
    logger.warn('the WireGuard key file was readable by others: narrowed to 0600', { file, mode: mode.toString(8) });
  }
  return { privateKey: key, publicKey: publicKeyOf(key) };
}
