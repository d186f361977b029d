/**
 * The control plane over HTTPS as its clients meet it: the CLI pins a self-signed certificate on
 * first use (and says so), refuses a different one afterwards before a token is sent, takes an
 * explicit --fingerprint, and refuses plain HTTP to a non-loopback address; an agent joins only a
 * control plane whose certificate is the one it was told to pin.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hostIdentity } from '../../src/sync/control-join.js';
import { parseAgentConfig } from '../../src/agent/index.js';
import { selfSigned } from '../../src/certs/index.js';
import { MemoryStore, startControlPlane, type ControlPlane } from '../../src/control/index.js';
import { SystemClock, certFingerprint, formatFingerprint, isStarlingError, silentLogger, trustingFetch } from '../../src/shared/index.js';
import { runCli } from '../helpers/cli.js';
import { addHost } from '../helpers/hosts.js';
import { closedPort } from '../helpers/origin.js';

const OPERATOR = 'operator-token-tls-0123456789ab';
const dir = mkdtempSync(join(tmpdir(), 'starling-cli-tls-'));
const home = join(dir, 'home');
mkdirSync(home);
const store = new MemoryStore();
let cp: ControlPlane | undefined;
let port = 0;
let seen = 0;

async function serve(cert: { certPem: string; keyPem: string }): Promise<string> {
  await cp?.close();
  const fingerprint = certFingerprint(cert.certPem);
  cp = await startControlPlane({ listen: { host: '127.0.0.1', port }, store, tokens: [OPERATOR], tls: { cert: cert.certPem, key: cert.keyPem, fingerprint }, imagesDir: join(dir, 'images'), secretsKey: Buffer.alloc(32, 4), clock: new SystemClock(), logger: silentLogger });
  // Every request that got past TLS reaches the router: count them.
  const admit = cp.router.admit.bind(cp.router);
  cp.router.admit = (...a) => ((seen += 1), admit(...a));
  return fingerprint;
}

const cli = (args: string[], env: Record<string, string> = {}) =>
  runCli(args, { env: { HOME: home, STARLING_CONTROL_URL: `https://127.0.0.1:${port}`, STARLING_TOKEN: OPERATOR, ...env }, cleanEnv: true });

let first = { certPem: '', keyPem: '' };
let second = { certPem: '', keyPem: '' };
before(async () => {
  port = await closedPort();
  first = await selfSigned({ names: ['127.0.0.1'] });
  second = await selfSigned({ names: ['127.0.0.1'] });
});
after(async () => {
  await cp?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the CLI and the control plane certificate', () => {
  it('pins a self-signed certificate on first use, says so, and is quiet afterwards', async () => {
    const fp = await serve(first);
    const r = await cli(['apps', 'list', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`trusting the control plane at https://127\\.0\\.0\\.1:${port} on first use: its certificate is sha256 ${formatFingerprint(fp)}`));
    const pins = join(home, '.config', 'starling', 'known_controls.json');
    assert.deepEqual(JSON.parse(readFileSync(pins, 'utf8')), { [`https://127.0.0.1:${port}`]: fp });
    assert.equal(statSync(pins).mode & 0o777, 0o600);
    const again = await cli(['apps', 'list']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stderr, '');
  });

  it('refuses another certificate at the pinned address before it sends the token, showing both fingerprints', async () => {
    const pinned = certFingerprint(first.certPem);
    const other = await serve(second);
    seen = 0;
    const r = await cli(['apps', 'list']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /ERR_TLS_UNTRUSTED|not the pinned one/);
    assert.ok(r.stderr.includes(formatFingerprint(other)) && r.stderr.includes(formatFingerprint(pinned)), r.stderr);
    assert.ok(!r.stderr.includes(OPERATOR), 'the token is not shown');
    assert.equal(seen, 0, 'no request reached the control plane');
    // An explicit pin of the new certificate (after the operator confirmed it) works.
    const ok = await cli(['apps', 'list', '--fingerprint', formatFingerprint(other)]);
    assert.equal(ok.code, 0, ok.stderr);
    const env = await cli(['apps', 'list'], { STARLING_CONTROL_FINGERPRINT: other });
    assert.equal(env.code, 0, env.stderr);
    const wrong = await cli(['apps', 'list', '--fingerprint', 'not-a-fingerprint']);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /64 hex digits/);
  });

  it('refuses plain http:// to a non-loopback control plane unless --insecure', async () => {
    const r = await cli(['apps', 'list', '--control', 'http://192.0.2.10:9300']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /plain HTTP to a non-loopback address: tokens would travel in clear/);
    assert.match(r.stderr, /--insecure/);
  });
});

describe('an agent and the control plane certificate', () => {
  const agentConfig = (name: string, extra = ''): ReturnType<typeof parseAgentConfig> =>
    parseAgentConfig(
      `[agent]\nregion = "fra"\nstate_dir = "${join(dir, name)}"\n[proxy]\nlisten = "127.0.0.1:8080"\nroutes = "/dev/null"\n` +
        `[bgp]\nasn = 65010\nrouter_id = "192.0.2.1"\nprefixes = ["198.51.100.0/24"]\n[[bgp.peers]]\nname = "up"\naddress = "192.0.2.9"\nasn = 65001\n` +
        `[control]\nurl = "https://127.0.0.1:${port}"\njoin_token_file = "${join(dir, name, 'join.token')}"\n${extra}`,
      `${name}/agent.toml`,
    );

  it('joins with the fingerprint its join token carries, and keeps it pinned', async () => {
    const fp = await serve(first);
    mkdirSync(join(dir, 'a'), { recursive: true });
    const token = await addHost(`https://127.0.0.1:${port}`, OPERATOR, 'fra-a', 'fra', trustingFetch({ fingerprint: fp }));
    assert.ok(token.endsWith(`_${fp}`), 'the join token carries the certificate fingerprint');
    writeFileSync(join(dir, 'a', 'join.token'), token, { mode: 0o600 });
    const id = await hostIdentity(agentConfig('a').control!, 'fra', new SystemClock(), silentLogger);
    assert.equal(id.host, 'fra-a');
    assert.equal(id.fingerprint, fp);
    assert.equal(existsSync(join(dir, 'a', 'join.token')), false, 'the used join token is deleted');
    assert.equal(statSync(join(dir, 'a', 'control.credential')).mode & 0o777, 0o600);
  });

  it('refuses to join a control plane whose certificate is not the pinned one', async () => {
    const fp = certFingerprint(first.certPem);
    await serve(second);
    mkdirSync(join(dir, 'b'), { recursive: true });
    writeFileSync(join(dir, 'b', 'join.token'), `sj1_${'0'.repeat(12)}_${'1'.repeat(64)}_${fp}`, { mode: 0o600 });
    seen = 0;
    await assert.rejects(hostIdentity(agentConfig('b').control!, 'fra', new SystemClock(), silentLogger), (e: unknown) => isStarlingError(e, 'ERR_AGENT_JOIN') && /not the pinned one/.test(e.message));
    assert.equal(seen, 0, 'the join token was never sent');
    assert.equal(existsSync(join(dir, 'b', 'join.token')), true, 'an unused join token is kept');
  });
});
