/**
 * The HTTP kit's whole-request timeout spares long-lived routes (exec into a machine, a forwarded
 * port: both stream their request body for as long as the user wants) and still ends an ordinary
 * request whose body stops arriving (408). Time is a ManualClock: nothing here waits for it.
 */
import assert from 'node:assert/strict';
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { Router, rawRoute, serveHttp, type HttpServer } from '../../src/http/index.js';
import { Logger, ManualClock } from '../../src/shared/index.js';

const clock = new ManualClock();
let server: HttpServer;
let port: number;

/** Echoes each chunk of the request body as it comes. */
const echo = (path: string, longLived: boolean) =>
  rawRoute<'anyone'>({
    method: 'POST', path, access: 'public', summary: 'echo', responses: { '200': 'the body' }, longLived,
    raw: async (req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.flushHeaders();
      req.on('data', (c: Buffer) => res.write(c));
      req.once('end', () => res.end());
    },
  });

before(async () => {
  const router = new Router<'anyone'>([echo('/long', true), echo('/short', false)], {
    anonymous: 'anyone',
    logger: new Logger({ write: () => undefined }, 'error'),
    authenticate: async () => ({ ok: true, principal: 'anyone' }),
  });
  server = serveHttp(router, { logger: new Logger({ write: () => undefined }, 'error'), limits: { maxConnections: 10, maxPerAddress: 10 }, maxBodyBytes: 1024, requestTimeoutMs: 1000, clock });
  port = (await server.listen('127.0.0.1', 0)).port;
});

after(() => server.close());

/** A streamed POST: the request to write into, the answer, and each chunk of it as it comes. */
async function open(path: string): Promise<{ req: ClientRequest; res: IncomingMessage; next(): Promise<string | undefined> }> {
  const req = request({ host: '127.0.0.1', port, path, method: 'POST', agent: false, headers: { 'transfer-encoding': 'chunked' } });
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    req.once('response', resolve).once('error', reject);
    req.write('first');
  });
  const chunks: (string | undefined)[] = [];
  const waiters: ((c: string | undefined) => void)[] = [];
  const push = (c: string | undefined): void => void (waiters.length > 0 ? waiters.shift()!(c) : chunks.push(c));
  res.on('data', (c: Buffer) => push(c.toString()));
  res.once('end', () => push(undefined));
  res.once('error', () => push(undefined));
  res.once('aborted', () => push(undefined));
  req.on('error', () => push(undefined));
  return { req, res, next: () => (chunks.length > 0 ? Promise.resolve(chunks.shift()) : new Promise((resolve) => waiters.push(resolve))) };
}

describe('the whole-request timeout', () => {
  it('spares a long-lived route: its body keeps streaming long after the timeout', async () => {
    const s = await open('/long');
    assert.equal(await s.next(), 'first');
    clock.advance(5_000);
    s.req.write('second');
    assert.equal(await s.next(), 'second');
    s.req.end();
    assert.equal(await s.next(), undefined, 'ended by the client, not cut');
    assert.equal(s.res.complete, true);
  });

  it('still ends an ordinary request whose body has not all arrived', async () => {
    const s = await open('/short');
    assert.equal(await s.next(), 'first');
    clock.advance(5_000);
    assert.equal(await s.next(), undefined, 'cut');
    assert.equal(s.res.complete, false);
  });
});
