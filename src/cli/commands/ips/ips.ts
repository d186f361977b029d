/**
 * `starling ips allocate-private|list|release-private --app APP`: an app's private service
 * address (fly's Flycast, `fly ips allocate-v6 --private`; docs/private-network.md, "Private
 * services"). Public traffic needs no address of its own: every app is served at the platform's
 * anycast addresses by its hostnames.
 */
import { appPath, callControl, resolveControl } from '../../control-client.js';
import { implement } from '../../kit/index.js';
import { printJson, table } from '../../output.js';
import { ipsAllocatePrivate, ipsList, ipsReleasePrivate } from './meta.js';

export interface PrivateIpJson {
  app: string;
  org: string;
  type: 'private_v6';
  address: string;
  created_at: string;
}

export const runIpsAllocatePrivate = implement(ipsAllocatePrivate, async (opts) => {
  const ip = await callControl<PrivateIpJson>(resolveControl(opts), 'POST', appPath(opts.app, '/ips/private'));
  if (opts.json) printJson(ip);
  else {
    console.log(`app ${ip.app} has the private address ${ip.address} (org ${ip.org})`);
    console.log(`its machines' org reaches it as http://${ip.app}.flycast/ (or flycast.${ip.app}.internal), through the proxy: stopped machines start on demand`);
  }
  return 0;
});

export const runIpsList = implement(ipsList, async (opts) => {
  const { ips } = await callControl<{ ips: PrivateIpJson[] }>(resolveControl(opts), 'GET', appPath(opts.app, '/ips'));
  if (opts.json) printJson(ips);
  else if (ips.length === 0) console.log(`app ${opts.app} has no private address (public traffic reaches it at the platform's anycast addresses); add one with: starling ips allocate-private --app ${opts.app}`);
  else console.log(table([['TYPE', 'ADDRESS', 'NAME', 'CREATED'], ...ips.map((i) => [i.type, i.address, `${i.app}.flycast`, i.created_at])]));
  return 0;
});

export const runIpsReleasePrivate = implement(ipsReleasePrivate, async (opts) => {
  const { released } = await callControl<{ released: string }>(resolveControl(opts), 'DELETE', appPath(opts.app, '/ips/private'));
  console.log(`released ${released}: app ${opts.app} has no private address now`);
  return 0;
});
