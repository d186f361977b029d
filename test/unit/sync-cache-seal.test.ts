/**
 * An agent's cache never holds a private key in clear: certificate keys and TLS-ALPN-01 answer
 * keys are sealed with the host's own cache key, and a cache whose keys do not open (another
 * host's key, a lost key file) is refused, so the agent takes a fresh snapshot instead.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { cacheSealer } from '../../src/sync/cache-key.js';
import { loadSyncCache, saveSyncCache, type SyncView } from '../../src/sync/sync-cache.js';
import { silentLogger } from '../../src/shared/index.js';

const dir = mkdtempSync(join(tmpdir(), 'starling-cache-seal-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const KEY = '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n';
const COLLECTIONS = ['apps', 'certificates', 'challenges'];

function view(): SyncView {
  return {
    revision: 7,
    documents: new Map<string, Map<string, unknown>>([
      ['apps', new Map([['web', { name: 'web' }]])],
      ['certificates', new Map([['acme/web.starling.test', { hostname: 'web.starling.test', cert_pem: 'CERT', key_pem: KEY }]])],
      ['challenges', new Map<string, unknown>([
        ['tls-alpn-01/web.starling.test', { type: 'tls-alpn-01', hostname: 'web.starling.test', cert_pem: 'C', key_pem: KEY }],
        ['http-01/tok', { type: 'http-01', token: 'tok', key_authorization: 'tok.thumb' }],
      ])],
    ]),
  };
}

describe('the sync cache seals private keys', () => {
  it('writes no key in clear, and reads every key back with the host key', async () => {
    const file = join(dir, 'a.json');
    const sealer = await cacheSealer(join(dir, 'a.key'), silentLogger);
    assert.equal(statSync(join(dir, 'a.key')).mode & 0o777, 0o600);
    await saveSyncCache(file, view(), Date.now(), sealer);
    const text = readFileSync(file, 'utf8');
    assert.doesNotMatch(text, /PRIVATE KEY|MIGHAgEAMBMG/);
    assert.match(text, /key_cache_sealed/);
    const back = await loadSyncCache(file, COLLECTIONS, sealer);
    assert.equal((back?.documents.get('certificates')?.get('acme/web.starling.test') as { key_pem: string }).key_pem, KEY);
    assert.equal((back?.documents.get('challenges')?.get('tls-alpn-01/web.starling.test') as { key_pem: string }).key_pem, KEY);
    assert.deepEqual(back?.documents.get('challenges')?.get('http-01/tok'), { type: 'http-01', token: 'tok', key_authorization: 'tok.thumb' });
  });

  it("refuses a cache whose keys do not open with this host's key", async () => {
    const file = join(dir, 'b.json');
    await saveSyncCache(file, view(), Date.now(), await cacheSealer(join(dir, 'b.key'), silentLogger));
    const other = await cacheSealer(join(dir, 'other.key'), silentLogger);
    await assert.rejects(loadSyncCache(file, COLLECTIONS, other), (e: Error & { code?: string }) => e.code === 'ERR_SYNC_CACHE_INVALID' && /does not open/.test(e.message));
    await assert.rejects(loadSyncCache(file, COLLECTIONS, undefined), (e: Error & { code?: string }) => e.code === 'ERR_SYNC_CACHE_INVALID');
  });
});
