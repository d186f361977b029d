/**
 * Help loads no command's code: the CLI runs under a module hook (node --import) that writes down
 * every module it loads, and neither help nor a light command may load the control plane, the
 * proxy, the lab, the agent, ACME or SQLite. A command that needs a part does load it (the hook
 * sees lazy imports too).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI_MAIN } from '../helpers/cli.js';

/** What help must not load: the heavy parts (src/shared and the CLI's own files are fine). */
const HEAVY = [
  /\/dist\/src\/(control|proxy|lab|agent|certs|announcer|runtime|mesh)\//,
  /\/node_modules\/(acme-client|better-sqlite3|undici|zod|@peculiar)\//,
];
/** The HTTP kit (and with it node:http, about 50 ms): help, --version and completion call no API. */
const HTTP_KIT = [/\/dist\/src\/http\//, /^node:https?$/];

describe('starling --help loads no command code', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'starling-lazy-'));
    writeFileSync(
      join(dir, 'hooks.mjs'),
      "import { appendFileSync } from 'node:fs';\n" +
        'export async function load(url, context, next) {\n' +
        '  appendFileSync(process.env.STARLING_LOADED_LOG, url + "\\n");\n' +
        '  return next(url, context);\n' +
        '}\n',
    );
    writeFileSync(join(dir, 'register.mjs'), "import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n");
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** The modules `starling ARGS…` loaded, and its exit status. */
  function loaded(...args: string[]): { urls: string[]; code: number | null; stdout: string } {
    const log = join(dir, `loaded-${args.join('-').replace(/\W+/g, '_')}.txt`);
    writeFileSync(log, '');
    const env = { PATH: process.env.PATH ?? '', HOME: dir, STARLING_LOADED_LOG: log };
    const r = spawnSync(process.execPath, ['--import', join(dir, 'register.mjs'), CLI_MAIN, ...args], { encoding: 'utf8', env });
    return { urls: readFileSync(log, 'utf8').split('\n').filter((u) => u !== ''), code: r.status, stdout: r.stdout };
  }

  for (const args of [['--help'], ['machines'], ['machines', '--help'], ['regions', 'list', '--help'], ['lab', 'up', '--help'], ['--version'], ['completion', 'bash'], ['regions', 'list']]) {
    it(`starling ${args.join(' ')}`, () => {
      const { urls, code } = loaded(...args);
      assert.ok(urls.some((u) => u.endsWith('/dist/src/cli/main.js')), 'the hook saw the CLI load');
      // `regions list` with nothing configured stops at its usage error (exit 2), having loaded only the client.
      assert.equal(code, args[0] === 'regions' && args.length === 2 ? 2 : 0);
      // `regions list` runs: it loads the control-plane client, which is on the HTTP kit.
      const calls = args[0] === 'regions' && args.length === 2;
      const heavy = urls.filter((u) => [...HEAVY, ...(calls ? [] : HTTP_KIT)].some((re) => re.test(u)));
      assert.deepEqual(heavy, [], `starling ${args.join(' ')} loaded heavy modules`);
    });
  }

  it('a command loads what it needs when it runs (the hook sees lazy imports)', () => {
    const { urls } = loaded('config', 'validate', '--config', join(dir, 'missing.toml'));
    assert.ok(urls.some((u) => u.includes('/dist/src/contract/app-config')), 'config validate loaded the app config schema');
  });
});
