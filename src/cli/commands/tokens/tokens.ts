/**
 * `starling tokens create|list|revoke`: API tokens of an org, optionally limited to one app, with a
 * scope (read, deploy, admin) and an expiry. A token is shown once; the control plane keeps only
 * its hash.
 */
import { callControl, resolveControl } from '../../control-client.js';
import { implement } from '../../kit/index.js';
import { printJson, table } from '../../output.js';
import { writeSecret } from './secret-out.js';
import { tokensCreate, tokensList, tokensRevoke } from './meta.js';

export interface TokenJson {
  id: string;
  org: string;
  app: string | null;
  scope: 'read' | 'deploy' | 'admin';
  name: string | null;
  created_at: string;
  expires_at: string | null;
}

export const runTokensCreate = implement(tokensCreate, async (opts) => {
  const body = {
    org: opts.org,
    scope: opts.scope,
    ...(opts.app !== undefined ? { app: opts.app } : {}),
    ...(opts.name !== undefined ? { name: opts.name } : {}),
    ...(opts.expiry !== undefined ? { expires_in_s: opts.expiry / 1000 } : {}),
  };
  const { token, ...t } = await callControl<TokenJson & { token: string }>(resolveControl(opts), 'POST', '/v1/tokens', body);
  const file = writeSecret(opts.write, token);
  if (opts.json) printJson(file ? { ...t, written_to: file } : { token, ...t });
  else {
    const what = `token ${t.id}: org ${t.org}${t.app ? `, app ${t.app}` : ''}, scope ${t.scope}, ${t.expires_at ? `expires ${t.expires_at}` : 'never expires'}`;
    if (file) console.log(`${what}\nwritten to ${file} (0600); use it with --token-file ${file} or STARLING_TOKEN_FILE`);
    else console.log(`${what}\nthis is the only time it is shown:\n\n${token}\n`);
  }
  return 0;
});

export const runTokensList = implement(tokensList, async (opts) => {
  const q = opts.org !== undefined ? `?org=${encodeURIComponent(opts.org)}` : '';
  const { tokens } = await callControl<{ tokens: TokenJson[] }>(resolveControl(opts), 'GET', `/v1/tokens${q}`);
  if (opts.json) printJson(tokens);
  else if (tokens.length === 0) console.log('no tokens; make one with: starling tokens create --org ORG --scope SCOPE');
  else console.log(table([['ID', 'ORG', 'APP', 'SCOPE', 'NAME', 'CREATED', 'EXPIRES'], ...tokens.map((t) => [t.id, t.org, t.app ?? '*', t.scope, t.name ?? '-', t.created_at, t.expires_at ?? 'never'])]));
  return 0;
});

export const runTokensRevoke = implement(tokensRevoke, async (opts) => {
  const { id } = opts;
  await callControl(resolveControl(opts), 'DELETE', `/v1/tokens/${encodeURIComponent(id)}`);
  console.log(`revoked token ${id}`);
  return 0;
});
