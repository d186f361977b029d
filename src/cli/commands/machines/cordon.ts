/**
 * `starling machines cordon|uncordon ID`: through the control plane, which records it in the
 * machine's placement; every host's proxy then leaves the machine out of (or puts it back into)
 * its routes. The machine keeps running either way.
 */
import { implement } from '../../kit/index.js';
import { appOf, machinePath } from './common.js';
import { explained, machinesApi } from './api.js';
import { machinesCordon, machinesUncordon } from './meta.js';

type Opts = { app: string; id: string; 'lease-nonce'?: string | undefined };

export const runMachinesCordon = implement(machinesCordon, (opts) => cordon(opts, true));
export const runMachinesUncordon = implement(machinesUncordon, (opts) => cordon(opts, false));

async function cordon(opts: Opts & Parameters<typeof machinesApi>[0], on: boolean): Promise<number> {
  const app = appOf(opts);
  const api = await machinesApi({ ...opts, local: false, config: undefined });
  const reply = await api.call<{ host: string }>('POST', machinePath(app, opts.id, on ? '/cordon' : '/uncordon'), { nonce: opts['lease-nonce'] }).catch((e: unknown) => {
    throw explained(e, app, opts.id);
  });
  console.log(on ? `machine ${opts.id} on ${reply.host}: cordoned (it keeps running; no proxy routes to it)` : `machine ${opts.id} on ${reply.host}: uncordoned (the proxies route to it again)`);
  return 0;
}
