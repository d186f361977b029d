import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Logger, StarlingError, SystemClock } from '../../src/shared/index.js';
import { RoutesInvalidError, RoutesWatcher, loadRoutesFile, type RoutesSpec } from '../../src/proxy/route-table/index.js';
import { waitFor } from '../helpers/wait.js';

const spec = (host: string) =>
  JSON.stringify({ apps: [{ name: 'app', hostnames: [host], machines: [{ id: 'm1', region: 'fra', address: '10.0.0.1' }] }] });

describe('routes file loading and watching', () => {
  let dir: string;
  let file: string;
  let changes: RoutesSpec[];
  let errors: StarlingError[];
  let logs: { level: string; msg: string; issues?: unknown }[];
  let watcher: RoutesWatcher | undefined;

  /** What editors and config tools do: write a temporary file, rename it over the real one. */
  async function replace(text: string): Promise<void> {
    const tmp = join(dir, `.routes.json.${process.pid}.tmp`);
    await writeFile(tmp, text);
    await rename(tmp, file);
  }

  function makeWatcher(): RoutesWatcher {
    const logger = new Logger({ write: (line: string) => logs.push(JSON.parse(line)) }, 'debug');
    watcher = new RoutesWatcher({
      path: file,
      clock: new SystemClock(),
      logger,
      debounceMs: 20,
      onChange: (s) => changes.push(s),
      onError: (e) => errors.push(e),
    });
    return watcher;
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'starling-routes-'));
    file = join(dir, 'routes.json');
    changes = [];
    errors = [];
    logs = [];
  });
  afterEach(async () => {
    watcher?.stop();
    watcher = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it('loadRoutesFile reads and validates; a missing file is ERR_ROUTES_READ naming the path', async () => {
    await writeFile(file, spec('a.test'));
    assert.deepEqual((await loadRoutesFile(file)).apps[0]?.hostnames, ['a.test']);
    const missing = join(dir, 'nope.json');
    await assert.rejects(loadRoutesFile(missing), (e: unknown) => {
      assert.ok(e instanceof StarlingError);
      assert.equal(e.code, 'ERR_ROUTES_READ');
      assert.equal(e.fault, 'user');
      assert.ok(e.message.includes(missing));
      return true;
    });
  });

  it('applies a file renamed into place', async () => {
    await writeFile(file, spec('a.test'));
    makeWatcher().start();
    await replace(spec('b.test'));
    await waitFor(() => changes.some((s) => s.apps[0]?.hostnames[0] === 'b.test'), 'onChange with b.test');
    assert.equal(errors.length, 0);
    assert.ok(logs.some((l) => l.msg === 'routes applied'));
  });

  it('keeps the old routes on an invalid file and reports every issue', async () => {
    await writeFile(file, spec('a.test'));
    const w = makeWatcher();
    w.start();
    await replace(spec('b.test'));
    await waitFor(() => changes.length === 1, 'the first change');

    const bad = JSON.parse(spec('c.test')) as { apps: { machines: { region: string; address: string }[] }[] };
    const m = bad.apps[0]?.machines[0];
    assert.ok(m);
    m.region = 'xyz';
    m.address = 'nowhere';
    await replace(JSON.stringify(bad));
    await waitFor(() => errors.length === 1, 'onError for the invalid file');
    assert.equal(changes.length, 1);
    const err = errors[0];
    assert.ok(err instanceof RoutesInvalidError);
    assert.deepEqual(err.issues.map((i) => i.path).sort(), ['apps[0].machines[0].address', 'apps[0].machines[0].region']);
    const logged = logs.find((l) => l.msg.startsWith('routes file rejected'));
    assert.equal((logged?.issues as unknown[] | undefined)?.length, 2);

    // Fixing the file applies it again.
    await replace(spec('d.test'));
    await waitFor(() => changes.length === 2, 'the fixed file applied');
    assert.equal(changes[1]?.apps[0]?.hostnames[0], 'd.test');
  });

  it('does not call onChange when the text is unchanged', async () => {
    await writeFile(file, spec('a.test'));
    makeWatcher().start();
    await replace(spec('b.test'));
    await waitFor(() => changes.length === 1, 'the first change');
    await replace(spec('b.test'));
    await waitFor(() => logs.some((l) => l.msg === 'routes file unchanged'), 'the unchanged reload');
    assert.equal(changes.length, 1);
  });

  it('reload() applies on demand (SIGHUP) and reports the outcome', async () => {
    await writeFile(file, spec('a.test'));
    const w = makeWatcher(); // not started: no file events, only manual reloads
    assert.equal(await w.reload(), true);
    assert.equal(changes.length, 1);
    assert.equal(await w.reload(), true, 'unchanged is still in effect');
    assert.equal(changes.length, 1);
    await writeFile(file, '{ "apps": [');
    assert.equal(await w.reload(), false);
    assert.equal(errors[0]?.code, 'ERR_ROUTES_INVALID');
    await rm(file);
    assert.equal(await w.reload(), false);
    assert.equal(errors[1]?.code, 'ERR_ROUTES_READ');
    assert.equal(changes.length, 1);
  });
});
