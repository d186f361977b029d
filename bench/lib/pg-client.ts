/**
 * bench:pg's client, run in a lab city's namespace (`ip netns exec … node pg-client.js MODE N`):
 * N sequential guestbook writes to the anycast address, each timed to its answer; with `replay-lag`
 * each write is followed by reads (every 2 ms) until the city's own copy has it. Prints JSON.
 */
import http from 'node:http';

const [mode = 'direct', n = '50'] = process.argv.slice(2);
const HOST = 'guestbook.starling.test';

function request(method: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '10.200.0.1', port: 80, method, path, headers: { host: HOST }, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const ms: number[] = [];
  const lag: number[] = [];
  for (let i = 0; i < Number(n); i++) {
    const t = performance.now();
    const w = await request('POST', `/?text=${mode}-${i}-${Date.now()}`);
    const done = performance.now();
    if (w.status !== 201) throw new Error(`write ${i}: ${w.status} ${w.body}`);
    ms.push(done - t);
    if (mode === 'replay-lag') {
      const id = (JSON.parse(w.body) as { id: number }).id;
      for (;;) {
        const r = await request('GET', '/');
        const entries = (JSON.parse(r.body) as { entries?: { id: number }[] }).entries ?? [];
        if ((entries[0]?.id ?? 0) >= id) break;
        if (performance.now() - done > 10_000) throw new Error(`write ${id} not readable here after 10 s`);
        await sleep(2);
      }
      lag.push(performance.now() - done);
    }
  }
  console.log(JSON.stringify({ ms, ...(mode === 'replay-lag' ? { lag_ms: lag } : {}) }));
}

main().catch((e: unknown) => {
  console.error((e as Error).message);
  process.exit(1);
});
