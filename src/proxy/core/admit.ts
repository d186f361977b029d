import type { RequestHead } from '../codec/index.js';
import type { AppRoute } from '../route-table/index.js';
import type { AcmeHttpAnswers, ProxyContext } from './context.js';
import { isPeerRequest } from './peer.js';

/**
 * What happens to a request before any routing, whichever front door it came through: the app its
 * Host names, or an answer the proxy gives itself. One place for the four cases:
 *   1. ACME HTTP-01 (RFC 8555 §8.3), plain HTTP only: answered from the shared certificate store, so
 *      whichever PoP the CA's validation reaches can answer an order placed by another;
 *   2. the app for the Host (exact name, then a `*.` wildcard one label up: RouteTable.lookupHost),
 *      or on a private service listener the app its address is (ProxyContext.privateApp);
 *   3. `force_https`, plain HTTP only: 301 to the same URL on https — except for a trusted peer's
 *      request, which the proxy the client reached already held to it (peer.ts);
 *   4. no app: 404 naming the host.
 * The answer's framing (whether the connection stays open) is the front door's to decide.
 */
export class LocalAnswer {
  constructor(
    readonly status: number,
    readonly text: string,
    readonly extra: readonly (readonly [string, string])[] = [],
  ) {}
}

export const ACME_PREFIX = '/.well-known/acme-challenge/';

/**
 * The app (the request goes on to an exchange), an answer to write now, or — for an ACME challenge,
 * looked up in the store — the answer to come. Counts the 301 and 404 answers in the metrics.
 */
export function admit(ctx: ProxyContext, head: RequestHead, secure: true): AppRoute | LocalAnswer;
export function admit(ctx: ProxyContext, head: RequestHead, secure: boolean): AppRoute | LocalAnswer | Promise<LocalAnswer>;
export function admit(ctx: ProxyContext, head: RequestHead, secure: boolean): AppRoute | LocalAnswer | Promise<LocalAnswer> {
  const { config, live } = ctx;
  if (ctx.acmeHttp && !secure && head.method === 'GET' && head.target.startsWith(ACME_PREFIX)) {
    return acmeAnswer(ctx.acmeHttp, head.target.slice(ACME_PREFIX.length));
  }
  if (ctx.privateApp !== undefined) {
    const fixed = live.routes.apps.get(ctx.privateApp);
    if (fixed) return fixed;
    config.metrics.request('', config.region, 404);
    return new LocalAnswer(404, `app ${ctx.privateApp} serves no HTTP here (no http_service, or no machines)\n`);
  }
  const app = head.host === undefined ? undefined : live.routes.lookupHost(head.host);
  if (app === undefined) {
    config.metrics.request('', config.region, 404);
    return new LocalAnswer(404, `no app is served at host "${(head.host ?? '').slice(0, 100)}"\n`);
  }
  if (app.forceHttps && !secure && !isPeerRequest(head, ctx.acceptPeerKey)) {
    const location = `https://${(head.host ?? '').replace(/:\d+$/, '')}${head.target}`;
    config.metrics.request(app.name, config.region, 301);
    return new LocalAnswer(301, `moved to ${location}\n`, [['location', location]]);
  }
  return app;
}

const TOKEN = /^[A-Za-z0-9_-]+$/;

async function acmeAnswer(store: AcmeHttpAnswers, token: string): Promise<LocalAnswer> {
  if (!TOKEN.test(token)) return new LocalAnswer(404, 'no such challenge\n');
  try {
    const answer = await store.httpChallenge(token);
    return answer === undefined ? new LocalAnswer(404, 'no such challenge\n') : new LocalAnswer(200, answer);
  } catch {
    return new LocalAnswer(503, 'challenge store unavailable\n');
  }
}
