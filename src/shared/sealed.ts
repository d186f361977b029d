/**
 * AES-256-GCM sealing of short strings with additional authenticated data: the one envelope every
 * secret at rest uses (the control plane's secrets and certificate keys, an agent's cached
 * certificate keys). `v1:<base64 96-bit nonce>:<base64 ciphertext||tag>`; a random nonce per seal.
 * Failures are answered as a reason (never key or plaintext bytes), for the caller's own error.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export const SEAL_KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
export const SEAL_VERSION = 'v1';
const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

export function seal(key: Buffer, aad: Buffer, text: string): string {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(text, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return `${SEAL_VERSION}:${nonce.toString('base64')}:${body.toString('base64')}`;
}

/** The plaintext, or why the envelope does not open. */
export function unseal(key: Buffer, aad: Buffer, envelope: string): { ok: true; text: string } | { ok: false; why: string } {
  const parts = envelope.split(':');
  if (parts.length !== 3) return { ok: false, why: 'not a sealed envelope' };
  const [version, nonceB64, bodyB64] = parts as [string, string, string];
  if (version !== SEAL_VERSION) return { ok: false, why: /^v\d{1,4}$/.test(version) ? `unsupported envelope version ${version}` : 'not a sealed envelope' };
  if (!B64.test(nonceB64) || !B64.test(bodyB64)) return { ok: false, why: 'malformed envelope' };
  const nonce = Buffer.from(nonceB64, 'base64');
  const body = Buffer.from(bodyB64, 'base64');
  if (nonce.length !== NONCE_BYTES || body.length < TAG_BYTES) return { ok: false, why: 'malformed envelope' };
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
  const head = decipher.update(body.subarray(0, body.length - TAG_BYTES));
  try {
    const tail = decipher.final();
    return { ok: true, text: Buffer.concat([head, tail]).toString('utf8') };
  } catch {
    // GCM released unauthenticated bytes from update(): wipe them rather than let them linger.
    head.fill(0);
    return { ok: false, why: 'wrong key, or the ciphertext was altered or belongs to another name' };
  }
}
