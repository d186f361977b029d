import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminApi, callAdminApi, loadOrCreateToken, parseAgentConfig, startAgent, type AnnouncerControl } from '../../src/agent/index.js';
import type { AnnouncerStatus } from '../../src/announcer/index.js';
import { toSession } from '../../src/announcer/bird-control.js';
import { parseReplies } from '../../src/announcer/bird/protocol.js';
import { parseProtocols } from '../../src/announcer/bird/show.js';
import { findCommand } from '../../src/cli/index.js';
import { Logger, isStarlingError, silentLogger } from '../../src/shared/index.js';
import { HttpError } from '../../src/http/index.js';
import { closedPort } from '../helpers/origin.js';
import { killAllCli, runCli } from '../helpers/cli.js';

const dirs: string[] = [];
after(() => {
  killAllCli();
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'starling-agent-admin-'));
  chmodSync(d, 0o711); // the agent's machines must pass through to its state dir (as /var/lib is)
  dirs.push(d);
  return d;
}

/** Records calls; drain state moves as the Announcer's does (a drain already under way is a no-op). */
class FakeAnnouncer implements AnnouncerControl {
  calls: string[] = [];
  drainState: 'serving' | 'draining' | 'drained' = 'serving';
  failStatus = false;
  drain(): void {
    this.calls.push('drain');
    if (this.drainState === 'serving') this.drainState = 'draining';
  }
  undrain(): void {
    this.calls.push('undrain');
    this.drainState = 'serving';
  }
  async status(): Promise<AnnouncerStatus> {
    if (this.failStatus) throw new Error('bird socket gone');
    return {
      bird: { running: true, pid: 4242, lastError: undefined },
      health: { healthy: true, lastResult: true, dampingLeftMs: 0 },
      drain: this.drainState,
      prefixes: [{ prefix: '198.51.100.0/24', announced: true, reason: 'healthy', since: '2025-01-01T00:00:00.000Z' }],
      sessions: [
        { name: 'up1', state: 'up', bgpState: 'Established', since: '21:03:51.585', neighbor: '192.0.2.1', lastError: undefined, exported: 1 },
        { name: 'up2', state: 'start', bgpState: 'Active', since: '21:03:50', neighbor: '192.0.2.5', lastError: 'Socket: Connection refused', exported: undefined },
      ],
    };
  }
  async metricsText(): Promise<string> {
    return 'starling_bgp_healthy 1\n';
  }
}

/** A logger whose lines the test can read (to prove the token never appears). */
function capture(): { logger: Logger; text: () => string } {
  const lines: string[] = [];
  return { logger: new Logger({ write: (l: string) => lines.push(l) }, 'debug'), text: () => lines.join('') };
}

const TOKEN = 'a'.repeat(64);

async function call(port: number, method: string, path: string, token?: string): Promise<{ status: number; body: string; res: Response }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
  return { status: res.status, body: await res.text(), res };
}

function errorCode(body: string): string | undefined {
  return (JSON.parse(body) as { error?: { code?: string; message?: string } }).error?.code;
}

describe('the token file', () => {
  it('is created with 32 random bytes in hex, mode 0600, in a missing directory, and never logged', async () => {
    const file = join(tmp(), 'deep', 'er', 'admin.token');
    const { logger, text } = capture();
    const token = await loadOrCreateToken(file, logger);
    assert.match(token, /^[0-9a-f]{64}$/);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(readFileSync(file, 'utf8').trim(), token);
    assert.equal(await loadOrCreateToken(file, logger), token, 'an existing token is kept');
    assert.ok(!text().includes(token), 'the token reached the log');
    assert.match(text(), /token file created/);
  });

  it('warns about a file others can read and refuses one too short to be a token', async () => {
    const dir = tmp();
    const loose = join(dir, 'loose.token');
    writeFileSync(loose, `${TOKEN}\n`, { mode: 0o644 });
    chmodSync(loose, 0o644);
    const { logger, text } = capture();
    assert.equal(await loadOrCreateToken(loose, logger), TOKEN);
    assert.match(text(), /readable by others/);
    assert.ok(!text().includes(TOKEN));
    const short = join(dir, 'short.token');
    writeFileSync(short, 'abc\n', { mode: 0o600 });
    await assert.rejects(loadOrCreateToken(short, logger), (e: unknown) => isStarlingError(e, 'ERR_AGENT_TOKEN') && e.fault === 'user');
  });
});

it('the BIRD adapter turns `show protocols all` into sessions (captured replies)', () => {
  const sessions = (file: string) => {
    const replies = parseReplies(readFileSync(new URL(`../../../test/fixtures/bird/${file}`, import.meta.url)));
    return parseProtocols(replies.at(-1)!).filter((p) => p.proto === 'BGP').map(toSession);
  };
  assert.deepEqual(sessions('show-protocols-all.raw'), [
    { name: 'up1', state: 'start', bgpState: 'Active', since: '21:04:08.649', neighbor: '192.0.2.254', lastError: 'Socket: No route to host', exported: undefined },
  ]);
  assert.equal(sessions('established-show-protocols-all-up1.raw')[0]?.exported, 2);
});

describe('auth and routing without a socket', () => {
  const api = new AdminApi({ announcer: new FakeAnnouncer(), token: TOKEN, drain: { prepend: 3, delay_ms: 30_000 }, logger: silentLogger });
  const ask = (method: string, path: string, authorization?: string) => api.handle({ method, path, authorization });
  const codeOf = (r: { json?: unknown }) => (r.json as { error?: { code?: string } } | undefined)?.error?.code;

  it('answers 401 to a missing, wrong, non-Bearer or padded token, on every path, known or not', async () => {
    for (const auth of [undefined, '', 'Bearer', `Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(1)}`, `Basic ${TOKEN}`, `Bearer ${TOKEN} extra`]) {
      for (const [method, path] of [['GET', '/v1/bgp/status'], ['POST', '/v1/drain'], ['GET', '/metrics'], ['GET', '/nope']] as const) {
        const r = await ask(method, path, auth);
        assert.equal(r.status, 401, `${method} ${path} with ${JSON.stringify(auth)}`);
        assert.equal(codeOf(r), 'ERR_UNAUTHORIZED');
        assert.equal(r.headers?.['www-authenticate'], 'Bearer realm="starling-agent"');
      }
    }
  });

  it('accepts the token (scheme in any case), then answers 404 and 405 with stable codes', async () => {
    assert.equal((await ask('GET', '/v1/bgp/status', `bearer ${TOKEN}`)).status, 200);
    const missing = await ask('GET', '/v1/nope', `Bearer ${TOKEN}`);
    assert.equal(missing.status, 404);
    assert.equal(codeOf(missing), 'ERR_NOT_FOUND');
    const wrong = await ask('GET', '/v1/drain', `Bearer ${TOKEN}`);
    assert.equal(wrong.status, 405);
    assert.equal(codeOf(wrong), 'ERR_METHOD_NOT_ALLOWED');
    assert.equal(wrong.headers?.allow, 'POST');
  });
});

describe('the admin API over HTTP', () => {
  const fake = new FakeAnnouncer();
  let api: AdminApi;
  let port: number;
  before(async () => {
    api = new AdminApi({ announcer: fake, token: TOKEN, drain: { prepend: 3, delay_ms: 30_000 }, logger: silentLogger });
    port = (await api.listen('127.0.0.1', 0)).port;
  });
  after(() => api.close());

  it('drain and undrain call through and say whether anything changed', async () => {
    const first = await call(port, 'POST', '/v1/drain', TOKEN);
    assert.equal(first.status, 200);
    assert.deepEqual(JSON.parse(first.body), { drain: 'draining', changed: true, community: '65535:0', prepend: 3, delay_ms: 30_000 });
    const again = await call(port, 'POST', '/v1/drain', TOKEN);
    assert.equal((JSON.parse(again.body) as { changed: boolean }).changed, false);
    const undo = await call(port, 'POST', '/v1/undrain', TOKEN);
    assert.deepEqual(JSON.parse(undo.body), { drain: 'serving', changed: true, community: '65535:0', prepend: 3, delay_ms: 30_000 });
    assert.deepEqual(fake.calls, ['drain', 'drain', 'undrain']);
  });

  it('status is the AnnouncerStatus as JSON, unknown values null; metrics are Prometheus text', async () => {
    const st = await call(port, 'GET', '/v1/bgp/status', TOKEN);
    assert.equal(st.status, 200);
    assert.match(st.res.headers.get('content-type') ?? '', /^application\/json/);
    const body = JSON.parse(st.body) as AnnouncerStatus;
    assert.equal(body.bird.lastError, null);
    assert.equal(body.sessions[0]?.bgpState, 'Established');
    assert.equal(body.sessions[1]?.exported, null);
    const m = await call(port, 'GET', '/metrics', TOKEN);
    assert.equal(m.status, 200);
    assert.match(m.res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    assert.ok(m.body.startsWith('starling_bgp_healthy 1\n'), m.body);
    assert.match(m.body, /^starling_agent_http_requests_total\{method="GET",route="\/v1\/bgp\/status",status="200"\} 1$/m);
    assert.equal((await call(port, 'GET', '/metrics')).status, 401);
  });

  it('a failing announcer is a 500 with a JSON error, and the API keeps answering', async () => {
    fake.failStatus = true;
    const r = await call(port, 'GET', '/v1/bgp/status', TOKEN);
    fake.failStatus = false;
    assert.equal(r.status, 500);
    assert.equal(errorCode(r.body), 'ERR_INTERNAL');
    assert.equal((await call(port, 'GET', '/v1/bgp/status', TOKEN)).status, 200);
  });
});

const cli = (args: string[]) => runCli(args);

/** A valid agent.toml pointing the CLI at `adminListen` and `tokenFile`. */
function agentToml(dir: string, adminListen: string, tokenFile: string, bird = '/usr/sbin/bird', proxyPort = 1): string {
  const file = join(dir, 'agent.toml');
  writeFileSync(join(dir, 'routes.json'), '{ "apps": [] }\n');
  const toml = `
[agent]
region = "fra"
state_dir = "${join(dir, 'state')}"
admin_listen = "${adminListen}"
token_file = "${tokenFile}"
[proxy]
routes = "${join(dir, 'routes.json')}"
listen = "127.0.0.1:${proxyPort}"
admin = "127.0.0.1:${proxyPort + 1}"
[bgp]
asn = 65010
router_id = "192.0.2.10"
prefixes = ["198.51.100.0/24"]
bird = "${bird}"
[[bgp.peers]]
name = "up1"
address = "192.0.2.1"
asn = 65001
[drain]
delay_ms = 30000
`;
  writeFileSync(file, toml);
  return file;
}

describe('the starling agent commands against a running admin API', () => {
  const fake = new FakeAnnouncer();
  let api: AdminApi;
  let config: string;
  let dir: string;
  let port: number;
  before(async () => {
    dir = tmp();
    const tokenFile = join(dir, 'admin.token');
    const token = await loadOrCreateToken(tokenFile, silentLogger);
    api = new AdminApi({ announcer: fake, token, drain: { prepend: 3, delay_ms: 30_000 }, logger: silentLogger });
    port = (await api.listen('127.0.0.1', 0)).port;
    config = agentToml(dir, `127.0.0.1:${port}`, tokenFile);
  });
  after(() => api.close());

  it('bgp is a two-word verb: found from argv, the rest are its flags', () => {
    const found = findCommand(['agent', 'bgp', 'status', '--json']);
    assert.equal(found?.cmd.verb, 'bgp status');
    assert.deepEqual(found?.rest, ['--json']);
    assert.equal(findCommand(['certs', 'ls'])?.cmd.verb, 'list');
    assert.equal(findCommand(['agent', 'bgp']), undefined);
  });

  it('drain prints the sequence, a second drain says it is under way, undrain undoes it', async () => {
    const d = await cli(['agent', 'drain', '--config', config]);
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, /routes tagged GRACEFUL_SHUTDOWN \(65535:0\) and prepended 3×; withdrawn in 30 s/);
    const again = await cli(['agent', 'drain', '--config', config]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^already draining/);
    const u = await cli(['agent', 'undrain', '--config', config]);
    assert.equal(u.code, 0, u.stderr);
    assert.match(u.stdout, /^undrained/);
    assert.deepEqual(fake.calls, ['drain', 'drain', 'undrain']);
  });

  it('bgp status prints sessions and prefixes; --json the status with every key', async () => {
    const text = await cli(['agent', 'bgp', 'status', '--config', config]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^up1\s+192\.0\.2\.1\s+Established\s+21:03:51\.585\s+1\s+-$/m);
    assert.match(text.stdout, /^up2\s+192\.0\.2\.5\s+Active\s+.*Socket: Connection refused$/m);
    assert.match(text.stdout, /^198\.51\.100\.0\/24\s+announced\s+\S+\s+health check passing$/m);
    const json = await cli(['agent', 'bgp', 'status', '--config', config, '--json']);
    assert.equal(json.code, 0, json.stderr);
    const st = JSON.parse(json.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(st).sort(), ['bird', 'drain', 'health', 'prefixes', 'sessions']);
    assert.deepEqual(st.bird, { running: true, pid: 4242, lastError: null });
    assert.equal((await cli(['agent', 'bgp', 'status', '--help'])).code, 0);
  });

  it("callAdminApi resolves with the parsed answer; an error answer is the HttpError of the API's code", async () => {
    const target = { admin_listen: `127.0.0.1:${port}`, token_file: join(dir, 'admin.token') };
    const st = await callAdminApi<{ drain: string }>(target, 'GET', '/v1/bgp/status');
    assert.equal(st.drain, fake.drainState);
    await assert.rejects(callAdminApi(target, 'GET', '/v1/nope'), (e: unknown) => {
      assert.ok(e instanceof HttpError);
      assert.equal(e.status, 404);
      assert.equal(e.code, 'ERR_NOT_FOUND');
      assert.match(e.message, /^the agent answered 404: /);
      assert.equal(e.fault, 'user');
      return true;
    });
    await assert.rejects(callAdminApi(target, 'GET', '/v1/drain'), (e: unknown) => isStarlingError(e, 'ERR_METHOD_NOT_ALLOWED'));
    const other = tmp();
    const wrong = join(other, 'wrong.token');
    writeFileSync(wrong, `${TOKEN}\n`, { mode: 0o600 });
    const calls = fake.calls.length;
    await assert.rejects(callAdminApi({ ...target, token_file: wrong }, 'POST', '/v1/drain'), (e: unknown) => {
      assert.ok(e instanceof HttpError);
      assert.equal(e.code, 'ERR_UNAUTHORIZED');
      assert.match(e.hint ?? '', new RegExp(`^the token in ${wrong} is not the running agent's`));
      assert.ok(!`${e.message} ${e.hint} ${e.stack}`.includes(TOKEN));
      return true;
    });
    await assert.rejects(callAdminApi({ ...target, admin_listen: `127.0.0.1:${await closedPort()}` }, 'GET', '/v1/bgp/status'), (e: unknown) => {
      assert.ok(isStarlingError(e, 'ERR_AGENT_UNREACHABLE'));
      assert.match(e.message, /^cannot reach the agent's admin API at 127\.0\.0\.1:\d+: /);
      assert.match(e.hint ?? '', /is the agent running/);
      return true;
    });
    assert.equal(fake.calls.length, calls, 'the refused drain did not reach the announcer');
  });

  it('a wrong token is exit 2 with a hint; no agent is exit 1; a bad config is exit 2', async () => {
    const other = tmp();
    const wrong = join(other, 'wrong.token');
    writeFileSync(wrong, `${TOKEN}\n`, { mode: 0o600 });
    const r = await cli(['agent', 'drain', '--config', agentToml(other, `127.0.0.1:${port}`, wrong)]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /401/);
    assert.match(r.stderr, /hint: the token in/);
    assert.ok(!r.stderr.includes(TOKEN));

    const down = tmp();
    const gone = await cli(['agent', 'bgp', 'status', '--config', agentToml(down, `127.0.0.1:${await closedPort()}`, join(dir, 'admin.token'))]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /cannot reach the agent's admin API/);
    assert.match(gone.stderr, /hint: is the agent running/);

    const missing = await cli(['agent', 'undrain', '--config', join(down, 'nope.toml')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read agent config/);
    writeFileSync(join(down, 'bad.toml'), '[agent]\nregion = "x"\nbogus = 1\n');
    const bad = await cli(['agent', 'run', '--config', join(down, 'bad.toml')]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /agent\.region/);
    assert.match(bad.stderr, /bogus/);
  });
});

describe('startAgent', () => {
  it('a part that cannot start stops the ones already running: the proxy port is free again', async () => {
    const dir = tmp();
    const proxyPort = await closedPort();
    const file = agentToml(dir, `127.0.0.1:${await closedPort()}`, join(dir, 'admin.token'), join(dir, 'no-such-bird'), proxyPort);
    const config = parseAgentConfig(readFileSync(file, 'utf8'), file);
    const { logger, text } = capture();
    await assert.rejects(startAgent(config, { logger }), (e: unknown) => isStarlingError(e, 'ERR_BIRD_START'));
    assert.match(text(), /proxy listening/, 'the proxy had started');
    // Nothing listens any more: a connection is refused.
    await assert.rejects(fetch(`http://127.0.0.1:${proxyPort}/`));
  });
});
