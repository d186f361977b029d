import type { CertSource } from '../../../certs/index.js';
import { StarlingError } from '../../../shared/index.js';
import { implement } from '../../kit/index.js';
import { ServedBy, hostArg, openStore, certsDir, onPlatform } from './common.js';
import { platformRemove } from './platform.js';
import { certsRemove } from './meta.js';

/**
 * `starling certs remove HOST [--source acme|custom]`: deletes the certificate(s) filed under HOST
 * (both sources unless one is named). Proxies sharing the store stop presenting it from their next
 * handshake; open connections keep the certificate they were made with.
 */
export const runCertsRemove = implement(certsRemove, async (opts) => {
  if (onPlatform(opts)) return platformRemove(opts);
  const host = hostArg(opts);
  const only = opts.source;
  const sources: CertSource[] = only === undefined ? ['custom', 'acme'] : [only];
  const store = openStore(opts);
  const removed: CertSource[] = [];
  for (const s of sources) if (await store.remove(host, s)) removed.push(s);
  if (removed.length === 0) {
    const what = only === undefined ? 'no certificate' : `no ${only} certificate`;
    throw new StarlingError('ERR_CERT_NOT_FOUND', `${what} for ${host} in ${store.dir}`, {
      fault: 'user',
      hint: `starling certs list --certs ${certsDir(opts)} shows what the store holds`,
    });
  }
  for (const s of removed) console.log(`removed the ${s} certificate for ${host} from ${store.dir}`);

  const now = new ServedBy(await store.all()).certificateFor(host);
  if (now) {
    const under = now.hostname === host ? '' : ` filed under ${now.hostname}`;
    console.log(`${host} is now served with the ${now.source} certificate${under}`);
  } else {
    console.log(`no certificate is left for ${host}: proxies refuse its handshakes (or answer with --default-cert self-signed)`);
  }
  return 0;
});
