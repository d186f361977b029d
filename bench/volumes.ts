/**
 * `npm run bench:volumes`: a volume's throughput inside a machine against the host's own disk
 * (issue 20, "Measured"), side by side in one run. The same `dd` — sequential 1 MiB blocks,
 * O_DIRECT so the page cache is not what is measured — writes then reads a file:
 *   host     on the host's disk, in the directory the volumes' images live in;
 *   machine  inside a sandboxed machine (the sandbox driver, a task machine), on its volume: an
 *            ext4 image of the host's disk, loop-mounted and bound into the machine (src/volumes).
 * Passes alternate host, machine, machine, host, … so a machine that gets busier favours neither.
 * Needs root (sandboxes, loop devices). `--mb N` (default 512), `--rounds N` (2), `--json`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { VolumeStore } from '../src/volumes/index.js';
import { startColdRig } from './lib/coldstart-rig.js';

const IMAGE = new URL('../../test/fixtures/apps/hello', import.meta.url).pathname;
const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isSafeInteger(v) || v < 1) throw new Error(`${name} wants a whole number of at least 1`);
  return v;
};
const MB = arg('--mb', 512);
const ROUNDS = arg('--rounds', 2);
const json = process.argv.includes('--json');
const VOLUME = 'vol_00000000000001';

/** The shell line both sides run: write, then read, the same file; dd reports each on stderr. */
const script = (file: string): string =>
  `dd if=/dev/zero of=${file} bs=1M count=${MB} oflag=direct conv=fsync 2>&1; dd if=${file} of=/dev/null bs=1M iflag=direct 2>&1; rm -f ${file}`;

/** MB/s of each dd in `text` (GNU dd: "N bytes (…) copied, S s, R MB/s"): [write, read]. */
function rates(text: string): [number, number] {
  const got = [...text.matchAll(/(\d+) bytes .* copied, ([\d.]+) s/g)].map((m) => Number(m[1]) / 1e6 / Number(m[2]));
  if (got.length !== 2) throw new Error(`dd said: ${text.slice(0, 400)}`);
  return [got[0]!, got[1]!];
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'starling-bench-volumes-'));
  const rig = await startColdRig({ dir, apps: ['vol'], bridge: { name: 'svb', cidr: '172.28.0.0/24' } });
  const store = new VolumeStore({ dataDir: join(dir, 'data') });
  const runs: { where: 'host' | 'machine'; write_mbps: number; read_mbps: number }[] = [];
  try {
    await store.ensure({ app: 'vol', id: VOLUME, size_gb: Math.ceil((MB * 1.1) / 1000) + 1 });
    const onHost = (): [number, number] => rates(execFileSync('sh', ['-c', script(join(dir, 'data', 'host-file'))], { encoding: 'utf8' }));
    const inMachine = async (): Promise<[number, number]> => {
      const m = await rig.manager.create('vol', { config: { image: IMAGE, cmd: ['sh', '-c', script('/data/machine-file')], mounts: [{ volume: VOLUME, path: '/data' }] } }, { task: true });
      const deadline = Date.now() + 300_000;
      while (!['stopped', 'failed', 'destroyed'].includes(rig.manager.get('vol', m.id)?.state ?? 'destroyed') && Date.now() < deadline) await sleep(50);
      const text = rig.manager.logs('vol', m.id, { tail: 20 }).entries.map((e) => e.message).join('\n');
      await rig.manager.destroy('vol', m.id, { force: true });
      return rates(text);
    };
    for (let r = 0; r < ROUNDS; r++) {
      for (const where of r % 2 === 0 ? (['host', 'machine'] as const) : (['machine', 'host'] as const)) {
        const [w, rd] = where === 'host' ? onHost() : await inMachine();
        runs.push({ where, write_mbps: Math.round(w), read_mbps: Math.round(rd) });
        if (!json) process.stderr.write(`bench: ${where} pass ${r + 1}: write ${w.toFixed(0)} MB/s, read ${rd.toFixed(0)} MB/s\n`);
      }
    }
  } finally {
    await rig.stop();
    await store.remove('vol', VOLUME).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
  const best = (where: string, k: 'write_mbps' | 'read_mbps'): number => Math.max(...runs.filter((x) => x.where === where).map((x) => x[k]));
  const out = {
    mb: MB,
    rounds: ROUNDS,
    host_write_mbps: best('host', 'write_mbps'),
    host_read_mbps: best('host', 'read_mbps'),
    machine_write_mbps: best('machine', 'write_mbps'),
    machine_read_mbps: best('machine', 'read_mbps'),
    ratio_write: Math.round((best('machine', 'write_mbps') / best('host', 'write_mbps')) * 100) / 100,
    ratio_read: Math.round((best('machine', 'read_mbps') / best('host', 'read_mbps')) * 100) / 100,
    runs,
  };
  if (json) console.log(JSON.stringify(out, null, 2));
  else {
    console.log(`\nvolume inside a machine vs the host's disk: ${MB} MB, dd with 1 MiB O_DIRECT blocks, best of ${ROUNDS}`);
    console.log(`write: host ${out.host_write_mbps} MB/s, machine ${out.machine_write_mbps} MB/s (machine/host ${out.ratio_write}×)`);
    console.log(`read:  host ${out.host_read_mbps} MB/s, machine ${out.machine_read_mbps} MB/s (machine/host ${out.ratio_read}×)`);
  }
}

main().catch((e: unknown) => {
  console.error(`bench:volumes failed: ${(e as Error).message}`);
  process.exit(1);
});
