import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { COMMANDS, NOUNS, TREE, mainHelp, nounHelp, parseHostPort } from '../../src/cli/index.js';
import { parseOptions } from '../../src/cli/args.js';
import { PROXY_DEFAULTS, proxyServe } from '../../src/cli/commands/proxy/meta.js';
import { edgeLimitOptions } from '../../src/cli/commands/proxy/serve.js';
import { DEFAULT_LIMITS } from '../../src/proxy/index.js';
import { DEFAULT_LAB_NAME } from '../../src/cli/commands/lab/meta.js';
import { loadImplementation } from '../../src/cli/kit/index.js';
import { DEFAULT_LAB } from '../../src/lab/index.js';
import { isStarlingError } from '../../src/shared/index.js';

const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');

/** The README section of one command: from its heading to the next heading of the same level. */
function section(noun: string, verb: string): string {
  const name = verb === '' ? noun : `${noun} ${verb}`;
  const m = new RegExp(`### \`starling ${name}[\` ]`).exec(readme);
  const start = m ? m.index : -1;
  assert.ok(start >= 0, `README has no CLI reference section for "starling ${noun} ${verb}"`);
  const next = readme.indexOf('\n## ', start + 1);
  const nextSub = readme.indexOf('\n### ', start + 1);
  const ends = [next, nextSub].filter((i) => i > 0);
  return readme.slice(start, ends.length > 0 ? Math.min(...ends) : undefined);
}

test('README CLI reference documents every command and every option', () => {
  for (const cmd of COMMANDS) {
    const text = section(cmd.noun, cmd.verb);
    for (const name of Object.keys(cmd.options)) {
      assert.match(text, new RegExp(`\`--${name}[ \`]`), `README lacks --${name} of starling ${cmd.noun} ${cmd.verb}`);
    }
  }
});

test('README documents no option that the command does not have', () => {
  for (const cmd of COMMANDS) {
    const text = section(cmd.noun, cmd.verb);
    for (const m of text.matchAll(/^\| `--([a-z-]+)/gm)) {
      assert.ok(m[1]! in cmd.options, `README documents --${m[1]} but starling ${cmd.noun} ${cmd.verb} has no such option`);
    }
  }
});

test('main help names every noun, grouped; each noun\'s help lists its commands', () => {
  const help = mainHelp();
  for (const n of NOUNS) assert.match(help, new RegExp(`^  ${n.noun}\\b`, 'm'), `root help lacks ${n.noun}`);
  for (const group of TREE.groups) assert.match(help, new RegExp(`^${group}$`, 'm'));
  for (const cmd of COMMANDS) {
    const noun = NOUNS.find((n) => n.noun === cmd.noun);
    assert.ok(noun, `starling ${cmd.noun} has no entry in NOUNS`);
    assert.match(nounHelp(TREE, noun), new RegExp(`starling ${cmd.verb === '' ? cmd.noun : `${cmd.noun} ${cmd.verb}`}`));
  }
});

test('every command in the table has an implementation in the module its load() names', async () => {
  for (const cmd of COMMANDS) {
    const impl = await loadImplementation(cmd);
    assert.equal(typeof impl.run, 'function', `starling ${cmd.noun} ${cmd.verb}`);
  }
  const names = COMMANDS.flatMap((c) => [c.verb, ...(c.aliases ?? [])].map((v) => `${c.noun} ${v}`));
  assert.equal(new Set(names).size, names.length, 'no two commands share a name or an alias');
});

test("the defaults help shows without loading the lab are the lab's", () => {
  assert.equal(DEFAULT_LAB_NAME, DEFAULT_LAB);
});

test('HOST:PORT parsing accepts IPv4, names and bracketed IPv6, and names the flag when wrong', () => {
  assert.deepEqual(parseHostPort('127.0.0.1:8080', '--listen'), { host: '127.0.0.1', port: 8080 });
  assert.deepEqual(parseHostPort('[::1]:80', '--listen'), { host: '::1', port: 80 });
  assert.deepEqual(parseHostPort('localhost:9', '--admin'), { host: 'localhost', port: 9 });
  // Port 0 is a listener's "any free port"; the contract's rule otherwise (agent.toml, control.toml).
  assert.deepEqual(parseHostPort('127.0.0.1:0', '--listen'), { host: '127.0.0.1', port: 0 });
  for (const bad of ['8080', '127.0.0.1', '1.2.3.4:99999', '::1:80', 'host:', '[1.2.3.4]:80', 'a b:80', 'under_score:80', '[::1:80']) {
    assert.throws(
      () => parseHostPort(bad, '--listen'),
      (e: unknown) => isStarlingError(e, 'ERR_USAGE') && e.message.startsWith('--listen must be HOST:PORT') && e.message.endsWith(`got "${bad}"`) && e.fault === 'user',
      bad,
    );
  }
});

test('an unknown flag is a usage error with a hint', () => {
  const serve = COMMANDS.find((c) => c.noun === 'proxy' && c.verb === 'serve')!;
  assert.throws(
    () => parseOptions(serve, ['--routes', 'r.json', '--bogus']),
    (e: unknown) => isStarlingError(e, 'ERR_USAGE') && /bogus/.test(e.message) && e.hint !== undefined,
  );
  const opts = parseOptions(proxyServe, ['--routes', 'r.json', '--region', 'fra']);
  assert.deepEqual(opts.listen, { host: '127.0.0.1', port: 8080 });
  assert.equal(opts.workers, 1);
});

test('proxy serve: --max-connections, --max-connections-per-ip and --response-idle-timeout, with their defaults', () => {
  const limits = (...args: string[]) => edgeLimitOptions(parseOptions(proxyServe, ['--routes', 'r.json', '--region', 'fra', ...args]));
  assert.deepEqual(PROXY_DEFAULTS, { maxConnections: DEFAULT_LIMITS.maxConnections, maxConnectionsPerIp: DEFAULT_LIMITS.maxConnectionsPerIp }, "help's defaults are the proxy's");
  assert.deepEqual(limits(), { maxConnections: 50_000, maxConnectionsPerIp: 1000, responseIdleTimeoutMs: 60_000 });
  assert.deepEqual(limits('--max-connections', '2000', '--max-connections-per-ip', '2000', '--response-idle-timeout', '1m30s'), {
    maxConnections: 2000,
    maxConnectionsPerIp: 2000,
    responseIdleTimeoutMs: 90_000,
  });
  assert.equal(limits('--response-idle-timeout', '45').responseIdleTimeoutMs, 45_000, 'a bare number is seconds');
  const usage = (re: RegExp) => (e: unknown) => isStarlingError(e, 'ERR_USAGE') && e.fault === 'user' && re.test(e.message);
  for (const v of ['0', '-1', '1.5', '1e3', 'many', '']) {
    assert.throws(() => limits(`--max-connections=${v}`), usage(/^--max-connections must be a whole number of at least 1/), v);
    assert.throws(() => limits(`--max-connections-per-ip=${v}`), usage(/^--max-connections-per-ip must be a whole number of at least 1/), v);
  }
  assert.throws(
    () => limits('--max-connections', '100', '--max-connections-per-ip', '200'),
    (e: unknown) => usage(/--max-connections-per-ip \(200\) must not exceed --max-connections \(100\)/)(e) && (e as { hint?: string }).hint !== undefined,
  );
  assert.throws(() => limits('--max-connections', '500'), usage(/\(1000\) must not exceed --max-connections \(500\)/), 'the default per-address cap counts');
  for (const v of ['0s', '999ms', '25h', 'soon', '10 s']) {
    assert.throws(() => limits('--response-idle-timeout', v), usage(/^--response-idle-timeout must be a duration from 1s to 24h/), v);
  }
});
