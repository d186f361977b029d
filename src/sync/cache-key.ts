/**
 * The host's cache key: 32 bytes derived from a random token in `<state_dir>/cache.key` (0600, made
 * on first start). It seals the certificate keys the agent caches (sync-cache.ts), with the same
 * AES-256-GCM envelope the control plane uses at rest.
 */
import { createHash } from 'node:crypto';
import { loadOrCreateTokenFile, seal, unseal, type Logger } from '../shared/index.js';
import type { CacheSealer } from './sync-cache.js';

export async function cacheSealer(file: string, logger: Logger): Promise<CacheSealer> {
  const token = await loadOrCreateTokenFile(file, logger, { code: 'ERR_SYNC_CACHE_IO', who: 'sync cache key' });
  const key = createHash('sha256').update(`starling-cache-key\0${token}`).digest();
  const aad = (name: string): Buffer => Buffer.from(JSON.stringify(['starling-cache', name]), 'utf8');
  return {
    seal: (name, text) => seal(key, aad(name), text),
    open: (name, sealed) => {
      const r = unseal(key, aad(name), sealed);
      return r.ok ? r.text : undefined;
    },
  };
}
