/**
 * `starling machines lease acquire|show|release ID`: fly's machine lease. `acquire` takes one
 * (`--ttl`, `--description`) or, with `--lease-nonce`, extends the held one, and prints its nonce:
 * while it holds, a change to the machine needs `--lease-nonce NONCE`. `show` prints who holds it
 * until when (never its nonce); `release` gives it up (with its nonce).
 */
import { isStarlingError } from '../../../shared/index.js';
import { implement, usageError as usage } from '../../kit/index.js';
import { printJson } from '../../output.js';
import { appOf, machinePath } from './common.js';
import { explained, machinesApi } from './api.js';
import { machinesLease } from './meta.js';

const ACTIONS = ['acquire', 'show', 'release'] as const;

interface LeaseJson {
  nonce: string | null;
  expires_at: number;
  owner: string | null;
  description: string;
}

export const runMachinesLease = implement(machinesLease, async (opts) => {
  const action = opts.action as (typeof ACTIONS)[number];
  if (!ACTIONS.includes(action)) throw usage(`ACTION must be acquire, show or release, got "${opts.action.slice(0, 40)}"`, `e.g. starling machines lease acquire ${opts.id} --ttl 60`);
  const app = appOf(opts);
  const { id } = opts;
  const api = await machinesApi(opts);
  const path = machinePath(app, id, '/lease');
  const until = (l: LeaseJson): string => new Date(l.expires_at * 1000).toISOString();
  try {
    if (action === 'acquire') {
      const body = { ...(opts.ttl !== undefined ? { ttl: opts.ttl } : {}), ...(opts.description !== undefined ? { description: opts.description } : {}) };
      const l = await api.call<LeaseJson>('POST', path, { body, nonce: opts['lease-nonce'] });
      if (opts.json) printJson(l);
      else console.log(`machine ${id} leased until ${until(l)}; nonce ${l.nonce ?? '?'}\npass it to change the machine: --lease-nonce ${l.nonce ?? '?'}`);
    } else if (action === 'show') {
      const l = await api.call<LeaseJson>('GET', path).catch((e: unknown) => {
        if (isStarlingError(e, 'ERR_LEASE_NOT_FOUND')) return null;
        throw e;
      });
      if (opts.json) printJson(l);
      else if (!l) console.log(`machine ${id} holds no lease`);
      else console.log(`machine ${id} is leased until ${until(l)}${l.owner ? ` by ${l.owner}` : ''}${l.description ? ` ("${l.description}")` : ''}`);
    } else {
      if (opts['lease-nonce'] === undefined) throw usage('release needs the lease\'s nonce: --lease-nonce NONCE (acquire printed it)');
      await api.call('DELETE', path, { nonce: opts['lease-nonce'] });
      if (opts.json) printJson({ ok: true });
      else console.log(`machine ${id}: lease released`);
    }
  } catch (e) {
    throw explained(e, app, id);
  }
  return 0;
});
