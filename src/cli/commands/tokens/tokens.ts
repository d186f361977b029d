/**
 * `starling tokens create|list|revoke`: API tokens of an org, optionally limited to one app, with a
 * scope (read, deploy, admin) and an expiry. A token is shown once; the control plane keeps only
 * its hash.
 */
import { StarlingError } from '../../../shared/index.js';
import type { Command } from '../../args.js';
import { callControl, controlOptions, resolveControl } from '../../control-client.js';
import { jsonOption } from '../certs/common.js';
import { printJson, table } from '../../output.js';
import { parseExpiry, writeOption, writeSecret } from './secret-out.js';

export interface TokenJson {
  id: string;
  org: string;
  app: string | null;
  scope: 'read' | 'deploy' | 'admin';
  name: string | null;
  created_at: string;
  expires_at: string | null;
}

const SCOPES = ['read', 'deploy', 'admin'];

export const tokensCreate: Command = {
  noun: 'tokens',
  verb: 'create',
  summary: 'create an API token for an org (optionally one app) with a scope; shown once',
  options: {
    org: { type: 'string', value: 'ORG', description: 'the org the token acts for (required)' },
    app: { type: 'string', value: 'APP', description: 'limit it to this app of the org' },
    scope: { type: 'string', value: 'SCOPE', description: 'read (look), deploy (releases, deploys, scale, secrets, new apps) or admin (also destroy apps, manage tokens)', default: 'read' },
    expiry: { type: 'string', value: 'DURATION', description: 'e.g. 30d, 12h, 1d12h (default: never expires)' },
    name: { type: 'string', value: 'LABEL', description: 'who or what holds it, shown by tokens list' },
    ...writeOption,
    ...jsonOption,
    ...controlOptions,
  },
  async run(opts) {
    if (typeof opts.org !== 'string' || opts.org === '') throw new StarlingError('ERR_USAGE', '--org ORG is required', { fault: 'user', hint: 'see the orgs with: starling orgs list' });
    const scope = String(opts.scope);
    if (!SCOPES.includes(scope)) throw new StarlingError('ERR_USAGE', `--scope must be read, deploy or admin, got "${scope}"`, { fault: 'user' });
    const body = {
      org: opts.org,
      scope,
      ...(typeof opts.app === 'string' ? { app: opts.app } : {}),
      ...(typeof opts.name === 'string' ? { name: opts.name } : {}),
      ...(typeof opts.expiry === 'string' ? { expires_in_s: parseExpiry('--expiry', opts.expiry) } : {}),
    };
    const { token, ...t } = await callControl<TokenJson & { token: string }>(resolveControl(opts), 'POST', '/v1/tokens', body);
    const file = writeSecret(opts, token);
    if (opts.json === true) printJson(file ? { ...t, written_to: file } : { token, ...t });
    else {
      const what = `token ${t.id}: org ${t.org}${t.app ? `, app ${t.app}` : ''}, scope ${t.scope}, ${t.expires_at ? `expires ${t.expires_at}` : 'never expires'}`;
      if (file) console.log(`${what}\nwritten to ${file} (0600); use it with --token-file ${file} or STARLING_TOKEN_FILE`);
      else console.log(`${what}\nthis is the only time it is shown:\n\n${token}\n`);
    }
    return 0;
  },
};

export const tokensList: Command = {
  noun: 'tokens',
  verb: 'list',
  aliases: ['ls'],
  summary: "an org's tokens: id, app, scope, expiry (never the tokens themselves)",
  options: { org: { type: 'string', value: 'ORG', description: "the org (default: the token's own; the operator: every org)" }, ...jsonOption, ...controlOptions },
  async run(opts) {
    const q = typeof opts.org === 'string' ? `?org=${encodeURIComponent(opts.org)}` : '';
    const { tokens } = await callControl<{ tokens: TokenJson[] }>(resolveControl(opts), 'GET', `/v1/tokens${q}`);
    if (opts.json === true) printJson(tokens);
    else if (tokens.length === 0) console.log('no tokens; make one with: starling tokens create --org ORG --scope SCOPE');
    else console.log(table([['ID', 'ORG', 'APP', 'SCOPE', 'NAME', 'CREATED', 'EXPIRES'], ...tokens.map((t) => [t.id, t.org, t.app ?? '*', t.scope, t.name ?? '-', t.created_at, t.expires_at ?? 'never'])]));
    return 0;
  },
};

export const tokensRevoke: Command = {
  noun: 'tokens',
  verb: 'revoke',
  aliases: ['rm'],
  summary: 'revoke a token: it stops working at once',
  args: ['ID'],
  options: { ...controlOptions },
  async run(opts) {
    const id = String(opts.id);
    await callControl(resolveControl(opts), 'DELETE', `/v1/tokens/${encodeURIComponent(id)}`);
    console.log(`revoked token ${id}`);
    return 0;
  },
};
