/**
 * A gRPC service for tests, with @grpc/grpc-js on both ends and JSON messages (no protobuf
 * compiler needed: gRPC's framing, HTTP/2 and trailers are what the proxy must carry, not the
 * message encoding). `Who/Hello` (unary): `{ name }` → `{ greeting, machine }`; `Who/Count`
 * (server streaming): `{ n }` → n messages `{ i }`; `Who/Fail`: status NOT_FOUND with a message.
 */
import * as grpc from '@grpc/grpc-js';

const json = { serialize: (o: unknown): Buffer => Buffer.from(JSON.stringify(o)), deserialize: (b: Buffer): unknown => JSON.parse(b.toString()) };
const method = (name: string, responseStream: boolean) => ({
  path: `/starling.test.Who/${name}`,
  requestStream: false,
  responseStream,
  requestSerialize: json.serialize,
  requestDeserialize: json.deserialize,
  responseSerialize: json.serialize,
  responseDeserialize: json.deserialize,
});
export const WHO = { Hello: method('Hello', false), Count: method('Count', true), Fail: method('Fail', false) } satisfies grpc.ServiceDefinition;

/** A plaintext (h2c) gRPC server on 127.0.0.1 that says which machine it is. */
export async function startGrpcServer(machine: string): Promise<{ port: number; close(): void }> {
  const server = new grpc.Server();
  server.addService(WHO, {
    Hello: (call: grpc.ServerUnaryCall<{ name: string }, unknown>, cb: grpc.sendUnaryData<unknown>) =>
      cb(null, { greeting: `hello ${call.request.name}`, machine, forwardedFor: call.metadata.get('x-forwarded-for')[0] ?? null }),
    Count: (call: grpc.ServerWritableStream<{ n: number }, unknown>) => {
      for (let i = 1; i <= call.request.n; i++) call.write({ i });
      call.end();
    },
    Fail: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb({ code: grpc.status.NOT_FOUND, details: 'no such thing here' }),
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { port, close: () => server.forceShutdown() };
}

export type WhoClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

/** A client over TLS to `address`, trusting `ca`, for the app named `name` (SNI and :authority). */
export function grpcClient(address: string, name: string, ca: string): WhoClient {
  const Ctor = grpc.makeGenericClientConstructor(WHO, 'Who');
  return new Ctor(address, grpc.credentials.createSsl(Buffer.from(ca)), { 'grpc.ssl_target_name_override': name, 'grpc.default_authority': name }) as unknown as WhoClient;
}

export function hello(c: WhoClient, name: string): Promise<{ greeting: string; machine: string; forwardedFor: string | null }> {
  return new Promise((resolve, reject) => c.Hello!({ name }, (e: Error | null, r: unknown) => (e ? reject(e) : resolve(r as never))));
}

export function count(c: WhoClient, n: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const got: number[] = [];
    const call = c.Count!({ n }) as grpc.ClientReadableStream<{ i: number }>;
    call.on('data', (m: { i: number }) => got.push(m.i));
    call.on('error', reject);
    call.on('end', () => resolve(got));
  });
}

export function fail(c: WhoClient): Promise<grpc.ServiceError> {
  return new Promise((resolve, reject) => c.Fail!({}, (e: grpc.ServiceError | null) => (e ? resolve(e) : reject(new Error('Fail succeeded')))));
}
