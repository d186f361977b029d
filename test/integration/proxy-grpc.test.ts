/**
 * `http_options.h2_backend`: gRPC end to end through the TLS edge with real @grpc/grpc-js on both
 * sides: unary, server streaming, and a status that only a trailer carries.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { machine, startProxy, type TestProxy } from '../helpers/proxy.js';
import { count, fail, grpcClient, hello, startGrpcServer } from '../helpers/grpc.js';
import { makeCert, staticContexts } from '../helpers/tls.js';

const NAME = 'grpc.example.test';
const closers: (() => void)[] = [];
after(() => {
  for (const c of closers) c();
});

async function edge(h2Backend: boolean, port: number): Promise<{ p: TestProxy; tlsPort: number; ca: string }> {
  const cert = makeCert([NAME]);
  const p = await startProxy({ apps: [{ name: 'rpc', hostnames: [NAME], h2_backend: h2Backend, machines: [machine('g1', 'fra', port)] }] });
  closers.push(() => p.close());
  const at = await p.proxy.listenTls('127.0.0.1', 0, staticContexts({ [NAME]: cert }));
  return { p, tlsPort: at.port, ca: cert.caPem };
}

describe('gRPC through the edge (h2_backend)', () => {
  it('carries unary calls, server streams and trailers-only statuses to an h2c machine', async () => {
    const g = await startGrpcServer('g1');
    closers.push(() => g.close());
    const { tlsPort, ca } = await edge(true, g.port);
    const c = grpcClient(`127.0.0.1:${tlsPort}`, NAME, ca);
    closers.push(() => c.close());
    const r = await hello(c, 'world');
    assert.deepEqual([r.greeting, r.machine], ['hello world', 'g1']);
    assert.equal(r.forwardedFor, '127.0.0.1', 'the proxy sets X-Forwarded-For');
    assert.deepEqual(await count(c, 50), Array.from({ length: 50 }, (_, i) => i + 1));
    const e = await fail(c);
    assert.equal(e.code, grpc.status.NOT_FOUND);
    assert.equal(e.details, 'no such thing here');
  });

  it('without h2_backend the machine gets HTTP/1.1, which a gRPC server does not speak', async () => {
    const g = await startGrpcServer('g1');
    closers.push(() => g.close());
    const { tlsPort, ca } = await edge(false, g.port);
    const c = grpcClient(`127.0.0.1:${tlsPort}`, NAME, ca);
    closers.push(() => c.close());
    await assert.rejects(hello(c, 'world'), (e: grpc.ServiceError) => e.code !== grpc.status.OK);
  });
});
