/**
 * `node grpc-call.js ADDRESS NAME CA_FILE WHO`: one Who/Hello call over TLS (test/helpers/grpc.ts),
 * printing the answer as JSON: what the lab's e2e runs inside a city's namespace.
 */
import { readFileSync } from 'node:fs';
import { grpcClient, hello } from './grpc.js';

const [address, name, caFile, who] = process.argv.slice(2);
const c = grpcClient(address!, name!, readFileSync(caFile!, 'utf8'));
hello(c, who ?? 'lab').then(
  (r) => {
    process.stdout.write(`${JSON.stringify(r)}\n`);
    c.close();
  },
  (e: Error) => {
    process.stderr.write(`grpc-call: ${e.message}\n`);
    process.exit(1);
  },
);
