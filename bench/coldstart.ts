/**
 * npm run bench:coldstart — a request for an app whose only machine is stopped: time to the first
 * response byte (the proxy's autostart, the sandbox start, the app's own start-up, the first check),
 * median and p90 over 20 runs; and machine start → healthy on its own. Needs root (namespaces).
 *
 * The app is test/fixtures/apps/hello (plain node:http). Its own start-up — spawn to "listening" in
 * its log — is reported separately, as the issue asks: most of a Node cold start is Node itself.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { measureColdStarts, pct, startColdRig } from './lib/coldstart-rig.js';

const IMAGE = new URL('../../test/fixtures/apps/hello', import.meta.url).pathname;
const runs = (() => {
  const i = process.argv.indexOf('--runs');
  return i >= 0 ? Number(process.argv[i + 1]) : 20;
})();
const json = process.argv.includes('--json');

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'starling-coldstart-'));
  const rig = await startColdRig({ dir, apps: ['hello'], bridge: { name: 'scb', cidr: '172.27.0.0/24' } });
  try {
    const m = await rig.create('hello', { config: { image: IMAGE, cmd: ['node', 'server.mjs'] }, skip_start: true });
    const { cold, healthy, appStart } = await measureColdStarts(rig, 'hello', m.id, runs, (i, c, h) => {
      if (!json) process.stderr.write(`run ${i + 1}/${runs}: first byte ${c.toFixed(1)} ms, start→healthy ${h.toFixed(1)} ms\n`);
    });
    const out = {
      runs,
      cold_first_byte_ms: { median: pct(cold, 50), p90: pct(cold, 90) },
      start_to_healthy_ms: { median: pct(healthy, 50), p90: pct(healthy, 90) },
      app_startup_ms: { median: pct(appStart.filter(Number.isFinite), 50), p90: pct(appStart.filter(Number.isFinite), 90) },
      aim_ms: 100,
    };
    if (json) console.log(JSON.stringify(out));
    else {
      console.log(`\ncold start through the proxy, ${runs} runs (sandbox driver, Node app)`);
      console.log(`request → first byte:  median ${out.cold_first_byte_ms.median.toFixed(1)} ms, p90 ${out.cold_first_byte_ms.p90.toFixed(1)} ms (aim ≤ 100 ms median)`);
      console.log(`machine start → healthy: median ${out.start_to_healthy_ms.median.toFixed(1)} ms, p90 ${out.start_to_healthy_ms.p90.toFixed(1)} ms`);
      console.log(`of which the app's own start-up (spawn → "listening"): median ${out.app_startup_ms.median.toFixed(1)} ms`);
    }
  } finally {
    await rig.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(`bench:coldstart failed: ${(e as Error).message}`);
  process.exit(1);
});
