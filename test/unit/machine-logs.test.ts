import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { MAX_LINE, MachineLogs, type LogEntry, type MachineLogsOptions } from '../../src/runtime/logs.js';
import { ManualClock } from '../../src/shared/index.js';

const b = (s: string): Buffer => Buffer.from(s);

async function fileEntries(path: string): Promise<LogEntry[]> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as LogEntry);
}

describe('MachineLogs', () => {
  let dir: string;
  let clock: ManualClock;
  let logs: MachineLogs | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'starling-logs-'));
    clock = new ManualClock(Date.UTC(2025, 0, 1));
  });
  afterEach(async () => {
    await logs?.close();
    logs = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  function make(o: Partial<MachineLogsOptions> = {}): MachineLogs {
    logs = new MachineLogs({ dir, machineId: 'm1', clock, redact: [], ...o });
    return logs;
  }
  const messages = (l: MachineLogs): string[] => l.tail().map((e) => e.message);

  it('splits lines across chunks and keeps stdout and stderr apart', () => {
    const l = make();
    l.write('stdout', b('hel'));
    l.write('stderr', b('err one\nerr '));
    l.write('stdout', b('lo\r\nwor'));
    assert.deepEqual(messages(l), ['err one', 'hello']);
    l.write('stdout', b('ld\n\n'));
    l.write('stderr', b('two\n'));
    assert.deepEqual(
      l.tail().map((e) => [e.stream, e.message]),
      [['stderr', 'err one'], ['stdout', 'hello'], ['stdout', 'world'], ['stdout', ''], ['stderr', 'err two']],
    );
    assert.equal(l.tail(1)[0]?.time, '2025-01-01T00:00:00.000Z');
  });

  it('keeps a multi-byte character split across chunks whole', () => {
    const l = make();
    const euro = b('€\n');
    l.write('stdout', euro.subarray(0, 1));
    l.write('stdout', euro.subarray(1));
    assert.deepEqual(messages(l), ['€']);
  });

  it('keeps only the last ringLines entries', () => {
    const l = make({ ringLines: 3 });
    for (let i = 1; i <= 7; i++) l.write('stdout', b(`line ${i}\n`));
    assert.deepEqual(messages(l), ['line 5', 'line 6', 'line 7']);
    assert.deepEqual(l.tail(2).map((e) => e.message), ['line 6', 'line 7']);
    assert.deepEqual(l.tail(0), []);
  });

  it('cuts a very long line into 16 KiB pieces', () => {
    const l = make();
    l.write('stdout', b('x'.repeat(MAX_LINE * 2 + 5)));
    assert.deepEqual(l.tail().map((e) => [e.message.length, e.partial]), [[MAX_LINE, true], [MAX_LINE, true]]);
    l.write('stdout', b('\n'));
    assert.deepEqual(l.tail(1)[0], { time: '2025-01-01T00:00:00.000Z', stream: 'stdout', message: 'xxxxx' });
  });

  it('redacts secrets everywhere, even split across chunks or across a 16 KiB cut', async () => {
    const secret = 's3cr3t-T0KEN-value';
    const l = make({ redact: [secret, 'line one\nline two', ''] });
    const seen: LogEntry[] = [];
    l.follow((e) => seen.push(e));
    l.write('stdout', b(`token=${secret} again ${secret}\n`));
    l.write('stdout', b('split: s3cr3t-T0'));
    l.write('stdout', b('KEN-value end\n'));
    l.write('stderr', b('line two of the pem\n'));
    // A secret straddling the 16 KiB cut of an endless line must not leak half of itself.
    l.write('stdout', b('y'.repeat(MAX_LINE - 5) + secret.slice(0, 8)));
    l.write('stdout', b(secret.slice(8) + 'z'.repeat(MAX_LINE)));
    await l.close();
    const expected = ['token=[redacted] again [redacted]', 'split: [redacted] end', '[redacted] of the pem'];
    assert.deepEqual(messages(l).slice(0, 3), expected);
    const long = messages(l).slice(3).join('');
    assert.equal(long, 'y'.repeat(MAX_LINE - 5) + '[redacted]' + 'z'.repeat(MAX_LINE));
    assert.deepEqual(seen.map((e) => e.message), messages(l));
    const file = await readFile(join(dir, 'm1.log'), 'utf8');
    for (const part of [secret, secret.slice(0, 8), secret.slice(8), 'line two']) {
      assert.ok(!file.includes(part), `file contains ${part}`);
      assert.ok(!messages(l).some((m) => m.includes(part)), `ring contains ${part}`);
    }
  });

  it('redacts a secret printed without a trailing newline just before the machine stops (the close path)', async () => {
    const secret = 'db-pa55word-9f8e7d';
    const l = make({ redact: [secret] });
    const seen: string[] = [];
    l.follow((e) => seen.push(e.message));
    // The last words of a crashing app: no newline, and the secret split across two chunks.
    l.write('stderr', b(`FATAL: cannot connect with password=${secret.slice(0, 5)}`));
    l.write('stderr', b(secret.slice(5)));
    l.write('stdout', b(secret));
    await l.close();
    const expected = ['[redacted]', 'FATAL: cannot connect with password=[redacted]']; // stdout's tail, then stderr's
    assert.deepEqual(messages(l), expected, 'the ring');
    assert.deepEqual(seen, expected, 'the followers');
    const file = await readFile(join(dir, 'm1.log'), 'utf8');
    assert.deepEqual((await fileEntries(join(dir, 'm1.log'))).map((e) => e.message), expected, 'the file');
    assert.ok(!file.includes(secret.slice(0, 5)) && !file.includes(secret.slice(5)), 'no piece of it in the file');
  });

  it('appends JSON lines to <dir>/<machineId>.log and rotates, keeping keepFiles', async () => {
    const l = make({ maxFileBytes: 200, keepFiles: 2 });
    const line = (i: number): string => `line ${String(i).padStart(3, '0')}`;
    const entryBytes = JSON.stringify({ time: '2025-01-01T00:00:00.000Z', stream: 'stdout', message: line(0) }).length + 1;
    const perFile = Math.floor(200 / entryBytes);
    const total = perFile * 5;
    for (let i = 0; i < total; i++) l.write('stdout', b(line(i) + '\n'));
    await l.flush();
    assert.deepEqual((await readdir(dir)).sort(), ['m1.log', 'm1.log.1', 'm1.log.2']);
    const current = await fileEntries(join(dir, 'm1.log'));
    const one = await fileEntries(join(dir, 'm1.log.1'));
    const two = await fileEntries(join(dir, 'm1.log.2'));
    for (const f of ['m1.log', 'm1.log.1', 'm1.log.2']) {
      assert.ok((await readFile(join(dir, f))).length <= 200, `${f} exceeds maxFileBytes`);
    }
    // Newest in .log, then .log.1, then .log.2: together, the last 3 files' worth of lines in order.
    const kept = [...two, ...one, ...current].map((e) => e.message);
    const expected = Array.from({ length: perFile * 3 }, (_, k) => line(total - perFile * 3 + k));
    assert.deepEqual(kept, expected);
    assert.equal(current[0]?.stream, 'stdout');
  });

  it('continues an existing file after a restart', async () => {
    const first = make();
    first.write('stdout', b('before\n'));
    await first.close();
    const second = make();
    second.write('stdout', b('after\n'));
    await second.close();
    assert.deepEqual((await fileEntries(join(dir, 'm1.log'))).map((e) => e.message), ['before', 'after']);
  });

  it('follow streams new entries until unsubscribed', () => {
    const l = make();
    l.write('stdout', b('old\n'));
    const seen: string[] = [];
    const stop = l.follow((e) => seen.push(e.message));
    l.follow(() => {
      throw new Error('a broken follower does not stop the others');
    });
    l.write('stdout', b('new 1\nnew 2\n'));
    stop();
    l.write('stdout', b('new 3\n'));
    assert.deepEqual(seen, ['new 1', 'new 2']);
    assert.deepEqual(messages(l), ['old', 'new 1', 'new 2', 'new 3']);
  });

  it('flushes the partial last line on close and ignores writes after it', async () => {
    const l = make();
    l.write('stdout', b('complete\nno newline'));
    l.write('stderr', b('err tail'));
    assert.deepEqual(messages(l), ['complete']);
    await l.close();
    l.write('stdout', b('late\n'));
    assert.deepEqual(messages(l), ['complete', 'no newline', 'err tail']);
    assert.deepEqual((await fileEntries(join(dir, 'm1.log'))).map((e) => e.message), ['complete', 'no newline', 'err tail']);
    await l.close();
  });
});
