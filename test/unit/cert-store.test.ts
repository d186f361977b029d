import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FileCertStore, MemoryCertStore, selfSigned, type KeyPairPem, type StoredCertificate } from '../../src/certs/index.js';
import { Logger, SystemClock } from '../../src/shared/index.js';
import { keyMaterial, storeConformance } from '../conformance/cert-store.js';
import { waitFor } from '../helpers/wait.js';

const tempDir = (): Promise<string> => mkdtemp(join(tmpdir(), 'starling-certs-'));

storeConformance('MemoryCertStore', async () => ({ store: new MemoryCertStore() }));

storeConformance('FileCertStore', async () => {
  const dir = await tempDir();
  return {
    store: new FileCertStore(join(dir, 'store'), { clock: new SystemClock(), pollMs: 100 }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

/** Every file and directory under `dir`, relative, with its permission bits. */
async function walk(dir: string, rel = ''): Promise<{ path: string; dir: boolean; mode: number }[]> {
  const out: { path: string; dir: boolean; mode: number }[] = [];
  for (const e of await readdir(join(dir, rel), { withFileTypes: true })) {
    const path = join(rel, e.name);
    const mode = (await stat(join(dir, path))).mode & 0o777;
    out.push({ path, dir: e.isDirectory(), mode });
    if (e.isDirectory()) out.push(...(await walk(dir, path)));
  }
  return out;
}

describe('FileCertStore on disk', () => {
  let root: string;
  let kp: KeyPairPem;
  let wild: KeyPairPem;
  const stores: { unwatch: () => void }[] = [];
  const cert = (k: KeyPairPem, hostname: string, source: 'acme' | 'custom' = 'acme'): StoredCertificate => ({
    hostname,
    source,
    certPem: k.certPem,
    keyPem: k.keyPem,
    names: [],
    notBefore: '',
    notAfter: '',
  });

  before(async () => {
    root = await tempDir();
    [kp, wild] = await Promise.all([selfSigned({ names: ['a.example.com'] }), selfSigned({ names: ['*.example.com'] })]);
  });
  after(async () => {
    for (const s of stores) s.unwatch();
    await rm(root, { recursive: true, force: true });
  });

  it('lays files out by source and escaped hostname, 0600 files in 0700 directories, no temp files left', async () => {
    const dir = join(root, 'layout');
    const store = new FileCertStore(dir);
    for (let i = 0; i < 5; i++) await store.put(cert(kp, 'a.example.com')); // rewrites leave nothing behind
    await store.put(cert(wild, '*.example.com', 'custom'));
    await store.putChallenge({ type: 'http-01', token: 'tok_en-1', keyAuthorization: 'tok_en-1.thumb' });
    await store.putChallenge({ type: 'tls-alpn-01', hostname: 'a.example.com', certPem: kp.certPem, keyPem: kp.keyPem });
    await store.putAccountKey('https://acme.test/dir', kp.keyPem);

    const entries = await walk(dir);
    const accountFile = `${createHash('sha256').update('https://acme.test/dir').digest('hex')}.pem`;
    assert.deepEqual(entries.filter((e) => !e.dir).map((e) => e.path).sort(), [
      join('accounts', accountFile),
      join('certs', 'acme', 'a.example.com.json'),
      join('certs', 'custom', '_wildcard_.example.com.json'),
      join('challenges', 'http-01', 'tok_en-1'),
      join('challenges', 'tls-alpn-01', 'a.example.com.json'),
    ]);
    for (const e of entries) assert.equal(e.mode, e.dir ? 0o700 : 0o600, `${e.path} mode ${e.mode.toString(8)}`);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    assert.equal(await readFile(join(dir, 'challenges', 'http-01', 'tok_en-1'), 'utf8'), 'tok_en-1.thumb');
  });

  it('skips a damaged file in all() and logs it without its content', async () => {
    const dir = join(root, 'damaged');
    const lines: string[] = [];
    const store = new FileCertStore(dir, { logger: new Logger({ write: (l: string) => lines.push(l) }, 'debug') });
    await store.put(cert(kp, 'a.example.com'));
    await store.put(cert(wild, 'b.example.com'));
    const file = join(dir, 'certs', 'acme', 'b.example.com.json');
    await writeFile(file, (await readFile(file, 'utf8')).slice(0, 200));
    const all = await store.all();
    assert.deepEqual(all.map((c) => c.hostname), ['a.example.com']);
    await assert.rejects(store.get('b.example.com', 'acme'), { code: 'ERR_CERT_STORE_CORRUPT' });
    const log = lines.join('');
    assert.match(log, /skipping unreadable certificate file/);
    assert.ok(!log.includes(keyMaterial(kp.keyPem)) && !log.includes(keyMaterial(wild.keyPem)), 'no key material in logs');
  });

  it('a record filed under the wrong name is refused', async () => {
    const dir = join(root, 'misfiled');
    const store = new FileCertStore(dir);
    await store.put(cert(kp, 'a.example.com'));
    const text = await readFile(join(dir, 'certs', 'acme', 'a.example.com.json'), 'utf8');
    await writeFile(join(dir, 'certs', 'acme', 'c.example.com.json'), text, { mode: 0o600 });
    assert.deepEqual((await store.all()).map((c) => c.hostname), ['a.example.com']);
  });

  it('a second store on the same directory sees the first one’s changes through watch()', async () => {
    const dir = join(root, 'shared');
    const pop1 = new FileCertStore(dir, { clock: new SystemClock(), pollMs: 100 });
    const pop2 = new FileCertStore(dir, { clock: new SystemClock(), pollMs: 100 });
    let changes = 0;
    stores.push({ unwatch: pop2.watch(() => changes++) });

    await pop1.put(cert(kp, 'a.example.com'));
    await waitFor(() => changes >= 1, 'pop2 told of pop1’s put');
    assert.equal((await pop2.get('a.example.com', 'acme'))?.hostname, 'a.example.com');

    const seen = changes;
    await pop1.remove('a.example.com', 'acme');
    await waitFor(() => changes > seen, 'pop2 told of pop1’s remove');
    assert.deepEqual(await pop2.all(), []);

    // Challenge answers need no watch: any PoP reads the current answer from the shared directory.
    await pop1.putChallenge({ type: 'http-01', token: 'shared', keyAuthorization: 'shared.thumb' });
    assert.equal(await pop2.httpChallenge('shared'), 'shared.thumb');
  });
});
