/**
 * Organisations and their tokens. Every app belongs to one org (`personal` is made at first start,
 * so a platform without orgs works as before). A token belongs to one org, optionally to one app of
 * it, and has a scope: `read` (look), `deploy` (releases, deploys, scale, secrets, new apps),
 * `admin` (also destroy apps and manage the org's tokens). Tokens are shown once, at creation, and
 * stored as SHA-256 hashes; revoking deletes the hash, so the token stops working at once. Another
 * org, and its apps and tokens, is answered 404 as if it did not exist.
 */
import { z } from 'zod';
import { orgNumber } from '../../mesh/index.js';
import { isStarlingError } from '../../shared/index.js';
import { DEFAULT_ORG, SCOPES, TOKEN_ID_RE, hashSecret, newTokenId, scopeAtLeast, seesOrg, userToken, type Principal, type TokenDoc } from '../auth/index.js';
import { HttpError, json, route, type Route } from './http.js';
import { appName, orgName, type ApiContext, type AppDoc } from './schemas.js';

const CreateOrg = z.strictObject({ name: orgName });
const CreateToken = z.strictObject({
  org: orgName,
  app: appName.optional(),
  /** Least privilege by default. */
  scope: z.enum(SCOPES).default('read'),
  // eslint-disable-next-line no-control-regex
  name: z.string().min(1).max(100).regex(/^[^\u0000-\u001f]*$/, 'must not contain control characters').optional(),
  /** Seconds from now; absent: the token never expires. */
  expires_in_s: z.number().int().min(60).max(10 * 365 * 86_400).optional(),
});
const ListTokens = z.strictObject({ org: orgName.optional() });

export interface OrgDoc {
  name: string;
  created_at: string;
}

/** What a token looks like in answers: never its hash. */
export function publicToken(t: TokenDoc): Omit<TokenDoc, 'hash'> {
  const { hash: _, ...rest } = t;
  return rest;
}

/** Makes the default org when it is missing (a new control plane, or one from before orgs). */
export async function ensureDefaultOrg(ctx: ApiContext): Promise<void> {
  try {
    await ctx.store.put('orgs', DEFAULT_ORG, { name: DEFAULT_ORG, created_at: new Date(ctx.clock.now()).toISOString() } satisfies OrgDoc, { expectRevision: 0 });
  } catch (e) {
    if (!isStarlingError(e, 'ERR_STORE_CONFLICT')) throw e;
  }
}

export function orgRoutes(ctx: ApiContext): Route[] {
  const { store } = ctx;
  const noOrg = (org: string): HttpError => new HttpError(404, 'ERR_ORG_NOT_FOUND', `no org ${JSON.stringify(org)}`);
  const visibleOrg = async (p: Principal, org: string): Promise<void> => {
    if (!seesOrg(p, org) || !(await store.get('orgs', org))) throw noOrg(org);
  };
  return [
    route({
      method: 'POST',
      path: '/v1/orgs',
      access: 'platform',
      summary: 'Create an organisation',
      requestSchema: CreateOrg,
      responses: { '201': 'the org', '409': 'ERR_ORG_EXISTS, ERR_ORG_NETWORK_TAKEN' },
      async handler({ body }) {
        const doc: OrgDoc = { name: body.name, created_at: new Date(ctx.clock.now()).toISOString() };
        // Its private network is named by its 32 bits (mesh/addressing.ts): never another org's, never the hosts' 0.
        const bits = orgNumber(body.name);
        const other = (await store.list('orgs')).map((e) => (e.value as OrgDoc).name).find((n) => n !== body.name && orgNumber(n) === bits);
        if (bits === 0 || other !== undefined) {
          throw new HttpError(409, 'ERR_ORG_NETWORK_TAKEN', `org ${body.name} would share its private network with ${other === undefined ? 'the hosts' : `org ${other}`} (their names hash alike): choose another name`);
        }
        try {
          await store.put('orgs', body.name, doc, { expectRevision: 0 });
        } catch (e) {
          if (isStarlingError(e, 'ERR_STORE_CONFLICT')) throw new HttpError(409, 'ERR_ORG_EXISTS', `org ${body.name} already exists`);
          throw e;
        }
        ctx.logger.info('org created', { org: body.name });
        return json(201, doc);
      },
    }),
    route({
      method: 'GET',
      path: '/v1/orgs',
      access: 'read',
      summary: "The orgs the caller sees: every one for the operator, the token's own otherwise",
      responses: { '200': '{ orgs: [{ name, created_at, apps }] }' },
      async handler({ principal }) {
        const apps = (await store.list('apps')).map((e) => e.value as AppDoc);
        const orgs = (await store.list('orgs')).map((e) => e.value as OrgDoc).filter((o) => seesOrg(principal, o.name));
        return json(200, { orgs: orgs.map((o) => ({ ...o, apps: apps.filter((a) => (a.org ?? DEFAULT_ORG) === o.name).length })) });
      },
    }),
    route({
      method: 'POST',
      path: '/v1/tokens',
      access: 'admin',
      summary: 'Create a token for an org (optionally one app) with a scope; the token is in this answer only',
      requestSchema: CreateToken,
      responses: { '201': '{ token, id, org, app, scope, name, created_at, expires_at }', '403': 'beyond the caller\'s own app', '404': 'ERR_ORG_NOT_FOUND, ERR_APP_NOT_FOUND' },
      async handler({ body, principal }) {
        await visibleOrg(principal, body.org);
        if (principal.kind === 'user' && principal.app !== null && body.app !== principal.app) {
          throw new HttpError(403, 'ERR_FORBIDDEN', `this token is for app ${principal.app} only: it can make tokens for that app only (--app ${principal.app})`);
        }
        if (principal.kind === 'user' && !scopeAtLeast(principal.scope, body.scope)) throw new HttpError(403, 'ERR_FORBIDDEN', `a ${principal.scope} token cannot make a ${body.scope} token`);
        if (body.app !== undefined) {
          const app = (await store.get('apps', body.app))?.value as AppDoc | undefined;
          if (!app || (app.org ?? DEFAULT_ORG) !== body.org) throw new HttpError(404, 'ERR_APP_NOT_FOUND', `org ${body.org} has no app ${JSON.stringify(body.app)}`);
        }
        const id = newTokenId();
        const token = userToken(id);
        const at = ctx.clock.now();
        const doc: TokenDoc = {
          id,
          org: body.org,
          app: body.app ?? null,
          scope: body.scope,
          name: body.name ?? null,
          hash: hashSecret(token),
          created_at: new Date(at).toISOString(),
          expires_at: body.expires_in_s === undefined ? null : new Date(at + body.expires_in_s * 1000).toISOString(),
        };
        await store.put('tokens', id, doc, { expectRevision: 0 });
        ctx.logger.info('token created', { token: id, org: doc.org, app: doc.app, scope: doc.scope, expires_at: doc.expires_at });
        return json(201, { token, ...publicToken(doc) });
      },
    }),
    route({
      method: 'GET',
      path: '/v1/tokens',
      access: 'admin',
      summary: "List an org's tokens (never the tokens themselves)",
      querySchema: ListTokens,
      responses: { '200': '{ tokens: [{ id, org, app, scope, name, created_at, expires_at }] }', '404': 'ERR_ORG_NOT_FOUND' },
      async handler({ query, principal }) {
        if (query.org !== undefined) await visibleOrg(principal, query.org);
        const org = query.org ?? (principal.kind === 'user' ? principal.org : undefined);
        const all = (await store.list('tokens')).map((e) => e.value as TokenDoc);
        const mine = all.filter((t) => (org === undefined || t.org === org) && (principal.kind !== 'user' || principal.app === null || t.app === principal.app));
        return json(200, { tokens: mine.sort((a, b) => a.created_at.localeCompare(b.created_at)).map(publicToken) });
      },
    }),
    route({
      method: 'DELETE',
      path: '/v1/tokens/{id}',
      access: 'admin',
      summary: 'Revoke a token: it stops working at once',
      responses: { '200': '{ revoked: id }', '404': 'ERR_TOKEN_NOT_FOUND' },
      async handler({ params, principal }) {
        const id = params.id!;
        const doc = TOKEN_ID_RE.test(id) ? ((await store.get('tokens', id))?.value as TokenDoc | undefined) : undefined;
        const mine = doc && seesOrg(principal, doc.org) && (principal.kind !== 'user' || principal.app === null || doc.app === principal.app);
        if (!doc || !mine) throw new HttpError(404, 'ERR_TOKEN_NOT_FOUND', `no token ${JSON.stringify(id.slice(0, 40))}`);
        await store.delete('tokens', id);
        ctx.logger.info('token revoked', { token: id, org: doc.org });
        return json(200, { revoked: id });
      },
    }),
  ];
}
