/**
 * `npm run demo`: Starling's lab — a small internet on this computer — with the real CLI, as a user
 * would type it: `starling lab up` (routers running BIRD, a control plane, one agent per PoP, the
 * demo app deployed everywhere, the catchment measured with real HTTP), a look at what a client in
 * Paris and one in Warsaw get, one HTTPS request (HTTP/2, a certificate the platform ordered from the
 * lab's Pebble), then a graceful failover of the London PoP measured from the clients.
 * The lab stays up afterwards for exploring; the demo ends by saying how, and how to take it down
 * (`npm run demo -- --down` takes it down itself).
 *
 * Unattended: no input; every command has a deadline and so has the whole run. On failure, Ctrl-C
 * or a missed deadline the lab is taken down. Exit status: 0 when everything behaved as expected,
 * 1 on failure, 128+n on signal n.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { heading, indent, line, paragraph } from './demo/print.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const OVERALL_TIMEOUT_MS = 240_000;
const TAKE_DOWN = process.argv.includes('--down');

class DemoError extends Error {}

let current: ChildProcess | undefined;

/** Runs `starling ARGS`; its output is shown as it comes (indented) and returned. */
function starling(args: string[], o: { timeoutMs: number; quiet?: boolean }): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    if (!o.quiet) line(`$ starling ${args.join(' ')}`);
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    current = child;
    let out = '';
    let partial = '';
    const show = (d: Buffer): void => {
      out += d.toString();
      if (o.quiet) return;
      partial += d.toString();
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) indent(l);
    };
    child.stdout.on('data', show);
    child.stderr.on('data', show);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new DemoError(`starling ${args.join(' ')} did not finish within ${o.timeoutMs / 1000} s`));
    }, o.timeoutMs);
    child.on('error', (e) => reject(new DemoError(`cannot run the CLI: ${e.message}`)));
    child.on('close', (code) => {
      clearTimeout(timer);
      current = undefined;
      if (partial !== '' && !o.quiet) indent(partial);
      resolve({ code: code ?? 1, out });
    });
  });
}

async function demo(): Promise<void> {
  if (!existsSync(CLI)) throw new DemoError(`${CLI} is missing: build first (npm run build; npm run demo builds too)`);
  for (const [bin, pkg] of [['/usr/sbin/bird', 'bird2'], ['/usr/bin/bwrap', 'bubblewrap']] as const) {
    if (!existsSync(bin)) throw new DemoError(`${bin} is missing: npm run setup installs it (Debian package ${pkg})`);
  }
  const started = Date.now();
  line('Starling demo: anycast on a small internet inside this computer');
  line('');
  paragraph(
    'Five cities (London, Paris, Frankfurt, Madrid, Warsaw), each with a transit router running BIRD, linked with ' +
      'costs that follow the distances. London, Frankfurt and Madrid have a PoP: a host running the real Starling ' +
      'agent, which announces one anycast prefix (10.200.0.0/24) to its city router over BGP. Every city has a ' +
      'client. All of it lives in network namespaces; nothing leaves them.',
  );

  // A lab left by an earlier run: start from scratch.
  const old = await starling(['lab', 'down'], { timeoutMs: 60_000, quiet: true });
  if (/is down/.test(old.out)) line('\n(an earlier demo lab was still up: taken down first)');

  heading('1. Build the lab, deploy the demo app everywhere, measure where each city lands');
  const up = await starling(['lab', 'up'], { timeoutMs: 180_000 });
  if (up.code !== 0) throw new DemoError('starling lab up failed (see above)');
  line('');
  paragraph(
    'Each client made real HTTP requests to 10.200.0.1, the same address in every city. BGP chose the PoP: ' +
      'Paris has no PoP of its own and lands in London (one hop away), Warsaw lands in Frankfurt. The demo app ' +
      'answers with the PoP the request entered and the machine that served it, so the table is measured, not ' +
      'computed: the "expected" column is what the lab computed from the topology before building anything.',
  );

  heading('2. What a client sees');
  for (const city of ['cdg', 'waw']) {
    const r = await starling(['lab', 'curl', city, 'http://10.200.0.1/'], { timeoutMs: 20_000 });
    if (r.code !== 0) throw new DemoError(`starling lab curl ${city} failed`);
  }

  heading('3. HTTPS: a certificate the platform ordered by itself');
  paragraph(
    'lab up also started Pebble, a real ACME CA, in the control plane\'s namespace. When the demo app was created the ' +
      'control plane ordered demo.starling.test from it; Pebble validated the order by connecting to 10.200.0.1 ' +
      'through the lab\'s BGP routing (its DNS says every name is there), the nearest PoP answered the challenge from ' +
      'its feed, and every PoP now serves the certificate. The client trusts Pebble\'s root and asks for HTTP/2:',
  );
  const tls = await starling(['lab', 'curl', 'cdg', 'https://demo.starling.test/', '--http2', '--include'], { timeoutMs: 20_000 });
  if (tls.code !== 0 || !/HTTP\/2 200/.test(tls.out)) throw new DemoError('starling lab curl cdg https://demo.starling.test/ --http2 failed');

  heading('4. A graceful failover: drain the London PoP while Londoners and Parisians keep asking');
  paragraph(
    'starling lab failover runs `starling agent drain` on lhr1: its routes are re-announced with the ' +
      'GRACEFUL_SHUTDOWN community, so every router prefers another path at once, and withdrawn 1.5 s later. ' +
      'Meanwhile the clients in London and Paris send a fresh request every 20 ms. Afterwards the PoP is ' +
      'undrained (healed).',
  );
  line('');
  const fo = await starling(['lab', 'failover', 'lhr1', '--mode', 'graceful'], { timeoutMs: 60_000 });
  if (fo.code !== 0) throw new DemoError('the graceful failover did not end as expected (see above)');
  if (!/0 of \d+/.test(fo.out)) throw new DemoError('requests failed during a graceful failover');

  heading(`Done in ${Math.round((Date.now() - started) / 100) / 10} s`);
  if (TAKE_DOWN) {
    const down = await starling(['lab', 'down'], { timeoutMs: 60_000 });
    if (down.code !== 0) throw new DemoError('starling lab down failed');
    return;
  }
  line('The lab is still up. Explore it (`npx starling` here, or `starling` after `npm link`: both run on Node 24):');
  indent(
    [
      'starling lab status                              routers, BGP sessions, PoPs, the catchment now',
      'starling lab curl waw http://10.200.0.1/          a request from Warsaw',
      'starling lab curl waw https://demo.starling.test/ the same over HTTPS (--http2: HTTP/2)',
      'starling lab exec cdg -- ip route                 any command in the Paris client namespace',
      'starling lab fail fra1 --mode crash               kill a PoP (or --mode silent, graceful) …',
      'starling lab heal fra1                            … and bring it back',
      'starling lab failover fra1 --mode silent          measure an outage: BFD at work',
    ].join('\n'),
  );
  line('');
  line('Take it down:  starling lab down   (npm run demo -- --down does it at the end)');
}

const SIGNALS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;

async function main(): Promise<number> {
  let interrupted: keyof typeof SIGNALS | undefined;
  const signalled = new Promise<never>((_resolve, reject) => {
    for (const sig of Object.keys(SIGNALS) as (keyof typeof SIGNALS)[]) {
      process.on(sig, () => {
        if (interrupted) process.exit(128 + SIGNALS[sig]);
        interrupted = sig;
        reject(new Error(sig));
      });
    }
  });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new DemoError(`the demo did not finish within ${OVERALL_TIMEOUT_MS / 1000} s`)), OVERALL_TIMEOUT_MS);
  });
  try {
    await Promise.race([demo(), signalled, deadline]);
    return 0;
  } catch (e) {
    console.error(interrupted ? `\ndemo interrupted (${interrupted})` : `\ndemo failed: ${(e as Error).message}`);
    current?.kill('SIGTERM');
    console.error('taking the lab down…');
    const down = await starling(['lab', 'down'], { timeoutMs: 60_000, quiet: true }).catch(() => undefined);
    console.error(down?.out.trim() ?? 'lab down did not finish: run starling lab down');
    return interrupted ? 128 + SIGNALS[interrupted] : 1;
  } finally {
    clearTimeout(timer);
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error('demo crashed:', e);
    process.exit(1);
  },
);
