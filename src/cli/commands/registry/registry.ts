/**
 * `starling registry login|list|logout HOST --app APP`: the app's logins for private registries,
 * kept sealed by the control plane, which uses them when a deploy names an image there
 * (`starling deploy --image HOST/org/app:tag`). The password comes from stdin only: argv is
 * visible to every user of the machine (ps), and shell history keeps it.
 */
import { appPath, callControl, resolveControl } from '../../control-client.js';
import { implement, usageError } from '../../kit/index.js';
import { printJson, table } from '../../output.js';
import { registryList, registryLogin, registryLogout } from './meta.js';

interface LoginView {
  registry: string;
  username: string;
  updated_at: string;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

export const runRegistryLogin = implement(registryLogin, async (opts) => {
  if (!opts['password-stdin']) throw usageError('give the password on stdin with --password-stdin (never as an argument)', 'printf %s "$TOKEN" | starling registry login HOST --app APP --username NAME --password-stdin');
  const password = await readStdin();
  if (password === '') throw usageError('stdin held no password');
  const host = opts.host.toLowerCase();
  const reply = await callControl<LoginView>(resolveControl(opts), 'PUT', appPath(opts.app, `/registries/${encodeURIComponent(host)}`), { username: opts.username, password });
  if (opts.json) printJson(reply);
  else console.log(`login for ${reply.registry} stored for app ${opts.app} (user ${reply.username}); deploys of images there use it`);
  return 0;
});

export const runRegistryList = implement(registryList, async (opts) => {
  const reply = await callControl<{ registries: LoginView[] }>(resolveControl(opts), 'GET', appPath(opts.app, '/registries'));
  if (opts.json) printJson(reply);
  else if (reply.registries.length === 0) console.log(`app ${opts.app} has no registry logins (starling registry login HOST --app ${opts.app} adds one)`);
  else console.log(table([['REGISTRY', 'USER', 'UPDATED'], ...reply.registries.map((r) => [r.registry, r.username, r.updated_at])]));
  return 0;
});

export const runRegistryLogout = implement(registryLogout, async (opts) => {
  const host = opts.host.toLowerCase();
  const reply = await callControl<{ registry: string; removed: boolean }>(resolveControl(opts), 'DELETE', appPath(opts.app, `/registries/${encodeURIComponent(host)}`));
  if (opts.json) printJson(reply);
  else console.log(reply.removed ? `login for ${reply.registry} removed from app ${opts.app}` : `app ${opts.app} had no login for ${reply.registry}`);
  return 0;
});
