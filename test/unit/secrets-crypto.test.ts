import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { inspect } from 'node:util';
import { createSecretsKeyFile, decryptSecret, digest, encryptSecret, loadSecretsKey } from '../../src/control/secrets/index.js';
import { StarlingError } from '../../src/shared/index.js';

const PLAINTEXT = 'postgres://app:hunter2-very-secret@db.internal/app';
const key = randomBytes(32);

/** Asserts `fn` throws a StarlingError with `code` whose message, hint and cause hold none of `banned`. */
function throwsClean(fn: () => unknown, code: string, banned: string[]): StarlingError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof StarlingError, `expected a StarlingError, got ${String(caught)}`);
  assert.equal(caught.code, code);
  const text = `${caught.message}\n${caught.hint ?? ''}\n${inspect(caught.cause)}\n${JSON.stringify(caught)}`;
  for (const b of banned) assert.ok(!text.includes(b), `error text leaks ${JSON.stringify(b.slice(0, 8))}…: ${text}`);
  return caught;
}

const keyForms = (k: Buffer): string[] => [k.toString('hex'), k.toString('base64'), k.toString('base64url')];

describe('secrets encryption', () => {
  it('round-trips values, including empty and non-ASCII ones', () => {
    for (const value of [PLAINTEXT, '', 'ünïcødé ✓ 秘密', 'x'.repeat(64 * 1024)]) {
      const env = encryptSecret(key, { app: 'web', name: 'DATABASE_URL' }, value);
      assert.equal(decryptSecret(key, { app: 'web', name: 'DATABASE_URL' }, env), value);
    }
    const bare = encryptSecret(key, 'TOKEN', PLAINTEXT);
    assert.equal(decryptSecret(key, 'TOKEN', bare), PLAINTEXT);
  });

  it('writes a v1 envelope with a fresh 12-byte nonce each time and no plaintext', () => {
    const a = encryptSecret(key, 'TOKEN', PLAINTEXT);
    const b = encryptSecret(key, 'TOKEN', PLAINTEXT);
    assert.match(a, /^v1:[A-Za-z0-9+/]+=*:[A-Za-z0-9+/]+=*$/);
    assert.notEqual(a, b);
    const [, nonce, body] = a.split(':');
    assert.equal(Buffer.from(nonce!, 'base64').length, 12);
    assert.equal(Buffer.from(body!, 'base64').length, Buffer.byteLength(PLAINTEXT) + 16);
    assert.ok(!a.includes('hunter2'));
  });

  it('refuses a wrong key without revealing the plaintext or either key', () => {
    const other = randomBytes(32);
    const env = encryptSecret(key, 'TOKEN', PLAINTEXT);
    throwsClean(() => decryptSecret(other, 'TOKEN', env), 'ERR_SECRETS_DECRYPT', [PLAINTEXT, 'hunter2', ...keyForms(key), ...keyForms(other)]);
  });

  it('refuses a tampered ciphertext, nonce or tag', () => {
    const env = encryptSecret(key, 'TOKEN', PLAINTEXT);
    const [v, nonceB64, bodyB64] = env.split(':') as [string, string, string];
    const body = Buffer.from(bodyB64, 'base64');
    const nonce = Buffer.from(nonceB64, 'base64');
    const flip = (b: Buffer, i: number): string => {
      const c = Buffer.from(b);
      c[i] = c[i]! ^ 0x01;
      return c.toString('base64');
    };
    const tampered = [
      `${v}:${nonceB64}:${flip(body, 0)}`,
      `${v}:${nonceB64}:${flip(body, body.length - 1)}`,
      `${v}:${flip(nonce, 5)}:${bodyB64}`,
      `${v}:${nonceB64}:${body.subarray(0, body.length - 1).toString('base64')}`,
    ];
    for (const t of tampered) throwsClean(() => decryptSecret(key, 'TOKEN', t), 'ERR_SECRETS_DECRYPT', [PLAINTEXT, 'hunter2']);
  });

  it('binds the ciphertext to its name and app', () => {
    const env = encryptSecret(key, { app: 'web', name: 'DATABASE_URL' }, PLAINTEXT);
    throwsClean(() => decryptSecret(key, { app: 'web', name: 'OTHER' }, env), 'ERR_SECRETS_DECRYPT', [PLAINTEXT]);
    throwsClean(() => decryptSecret(key, { app: 'api', name: 'DATABASE_URL' }, env), 'ERR_SECRETS_DECRYPT', [PLAINTEXT]);
    throwsClean(() => decryptSecret(key, 'DATABASE_URL', env), 'ERR_SECRETS_DECRYPT', [PLAINTEXT]);
    // Separator games cannot make two different (app, name) pairs share authenticated data.
    const joined = encryptSecret(key, { app: 'a:b', name: 'c' }, PLAINTEXT);
    throwsClean(() => decryptSecret(key, { app: 'a', name: 'b:c' }, joined), 'ERR_SECRETS_DECRYPT', [PLAINTEXT]);
  });

  it('refuses malformed envelopes and unknown versions with ERR_SECRETS_DECRYPT', () => {
    for (const bad of ['', 'plaintext', 'v1:abc', 'v2:AAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAA==', 'v1:!!!:???', 'v1:AAAA:AAAAAAAAAAAAAAAAAAAAAA==']) {
      throwsClean(() => decryptSecret(key, 'TOKEN', bad), 'ERR_SECRETS_DECRYPT', []);
    }
  });

  it('rejects a key of the wrong length', () => {
    const short = randomBytes(16);
    throwsClean(() => encryptSecret(short, 'TOKEN', PLAINTEXT), 'ERR_SECRETS_KEY_INVALID', [PLAINTEXT, ...keyForms(short)]);
  });

  it('digests are short, stable sha256 prefixes that differ per value', () => {
    assert.equal(digest('hello'), '2cf24dba5fb0a30e');
    assert.equal(digest(PLAINTEXT), digest(PLAINTEXT));
    assert.notEqual(digest(PLAINTEXT), digest(`${PLAINTEXT} `));
    assert.match(digest(''), /^[0-9a-f]{16}$/);
  });
});

describe('secrets key loading', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'starling-secrets-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('creates a 0600 key file exclusively and loads it back', () => {
    const path = join(dir, 'created.key');
    const made = createSecretsKeyFile(path);
    assert.equal(made.length, 32);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.deepEqual(loadSecretsKey({ file: path }), made);
    throwsClean(() => createSecretsKeyFile(path), 'ERR_SECRETS_KEY_EXISTS', keyForms(made));
    assert.deepEqual(loadSecretsKey({ file: path }), made, 'the existing key is untouched');
  });

  it('reads hex, base64 and base64url key files, with surrounding whitespace', () => {
    const k = randomBytes(32);
    for (const [i, form] of keyForms(k).entries()) {
      const path = join(dir, `form-${i}.key`);
      writeFileSync(path, `  ${form}\n`, { mode: 0o600 });
      assert.deepEqual(loadSecretsKey({ file: path }), k);
    }
    const readOnly = join(dir, 'ro.key');
    writeFileSync(readOnly, k.toString('hex'), { mode: 0o400 });
    assert.deepEqual(loadSecretsKey({ file: readOnly }), k, '0400 is stricter than 0600 and accepted');
  });

  it('refuses a key file readable by others, and says to chmod it, without printing the key', () => {
    const k = randomBytes(32);
    for (const mode of [0o644, 0o640, 0o604, 0o660]) {
      const path = join(dir, `loose-${mode.toString(8)}.key`);
      writeFileSync(path, k.toString('hex'), { mode: 0o600 });
      chmodSync(path, mode);
      const e = throwsClean(() => loadSecretsKey({ file: path }), 'ERR_SECRETS_KEY_MODE', keyForms(k));
      assert.equal(e.fault, 'user');
      assert.match(e.message, new RegExp(`0${mode.toString(8)}`));
      assert.match(e.hint ?? '', /chmod 600/);
    }
  });

  it('checks the mode of the file a symbolic link points at', () => {
    const k = randomBytes(32);
    const target = join(dir, 'target.key');
    writeFileSync(target, k.toString('hex'), { mode: 0o600 });
    const link = join(dir, 'link.key');
    symlinkSync(target, link);
    assert.deepEqual(loadSecretsKey({ file: link }), k);
    chmodSync(target, 0o644);
    throwsClean(() => loadSecretsKey({ file: link }), 'ERR_SECRETS_KEY_MODE', keyForms(k));
  });

  it('refuses a missing file and a file that is not a key, without echoing its content', () => {
    throwsClean(() => loadSecretsKey({ file: join(dir, 'absent.key') }), 'ERR_SECRETS_KEY_MISSING', []);
    const path = join(dir, 'wrong.key');
    const almost = randomBytes(31).toString('hex');
    writeFileSync(path, almost, { mode: 0o600 });
    throwsClean(() => loadSecretsKey({ file: path }), 'ERR_SECRETS_KEY_INVALID', [almost]);
  });

  it('reads the key from STARLING_SECRETS_KEY or a named variable; the file wins when given', () => {
    const k = randomBytes(32);
    assert.deepEqual(loadSecretsKey({ environment: { STARLING_SECRETS_KEY: k.toString('base64') } }), k);
    assert.deepEqual(loadSecretsKey({ env: 'MY_KEY', environment: { MY_KEY: k.toString('hex') } }), k);
    const path = join(dir, 'wins.key');
    const fileKey = createSecretsKeyFile(path);
    assert.deepEqual(loadSecretsKey({ file: path, environment: { STARLING_SECRETS_KEY: k.toString('hex') } }), fileKey);
    const e = throwsClean(() => loadSecretsKey({ environment: {} }), 'ERR_SECRETS_KEY_MISSING', []);
    assert.match(e.message, /STARLING_SECRETS_KEY/);
    const bad = 'not-a-key-but-maybe-a-password';
    const e2 = throwsClean(() => loadSecretsKey({ env: 'MY_KEY', environment: { MY_KEY: bad } }), 'ERR_SECRETS_KEY_INVALID', [bad]);
    assert.match(e2.message, /MY_KEY/);
  });
});
