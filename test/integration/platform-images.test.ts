/**
 * OCI images end to end: the control plane as a real process, one agent with real sandboxed
 * machines, the real CLI, a real registry (Debian's docker-registry behind the token flow) and
 * images built offline with buildah. Covers an image from a private registry (registry login,
 * copied into the platform registry, pulled by the host by digest, run as its own root
 * filesystem), a Python app whose python3 is the image's (the host's /usr is not in its view), a
 * tag moved after the release was made (a new machine runs the pinned digest), a Dockerfile built
 * by `starling deploy` with its [build.args], and a registry that is down (the deploy fails in one
 * line; the running release keeps serving).
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { killAllCli, runCli } from '../helpers/cli.js';
import { imageBuilder, type BuiltImage, type ImageBuilder } from '../helpers/oci-images.js';
import { startPlatform, type Platform } from '../helpers/platform.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { waitFor } from '../helpers/wait.js';

const BUSYBOX = '/usr/bin/busybox';
const HTTPD = 'CMD ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]';
let p: Platform;
let registry: TestRegistry;
let images: ImageBuilder;

/** A busybox httpd image serving `page` at /, pushed to the private registry as `name:tag`. */
function web(name: string, tag: string, page: string): Promise<BuiltImage> {
  return images.buildImage(
    name,
    { files: { 'bin/busybox': readFileSync(BUSYBOX), 'www/index.html': page }, dockerfile: `FROM scratch\nCOPY . /\n${HTTPD}\n`, tag, ...(registry.username ? { auth: { username: registry.username, password: registry.password! } } : {}) },
    registry.host,
  );
}

function appDir(app: string, extra = ''): string {
  const dir = join(p.dir, `app-${app}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'starling.toml'),
    `app = "${app}"\nprimary_region = "fra"\nkill_timeout = "2s"\n${extra}\n[http_service]\ninternal_port = 8080\n[[http_service.checks]]\npath = "/"\ninterval = "1s"\ntimeout = "500ms"\ngrace_period = "0s"\n`,
  );
  return dir;
}

const deploy = (dir: string, args: string[] = []) => p.cli(['deploy', '--create', '-c', join(dir, 'starling.toml'), ...args], 240_000);
const release = async (app: string): Promise<{ image: { digest: string; ref: string; kind?: string } }> => {
  const r = await p.api('GET', `/v1/apps/${app}/releases`);
  return (r.body as { releases: { image: { digest: string; ref: string; kind?: string } }[] }).releases[0]!;
};

describe('OCI images on the platform', { timeout: 600_000 }, () => {
  before(async () => {
    [p, registry, images] = await Promise.all([startPlatform([{ name: 'a', region: 'fra' }], { prefix: 'images' }), startRegistry({ auth: 'token' }), imageBuilder()]);
  });
  after(async () => {
    killAllCli();
    await Promise.all([p?.stop(), registry?.stop(), images?.stop()]);
  });

  it('an image from a private registry: login, deploy --image, copied, pulled by digest, run as its own root', async () => {
    const v1 = await web('shop', 'v1', 'shop v1\n');
    // [[statics]]: busybox httpd serves /www at /, so only the edge can answer /assets/… from the image.
    const dir = appDir('shop', '[[statics]]\nguest_path = "/www"\nurl_prefix = "/assets"\n');
    await p.api('POST', '/v1/apps', { name: 'shop', primary_region: 'fra' });
    const refused = await deploy(dir, ['--image', `${registry.host}/shop:v1`]);
    assert.notEqual(refused.code, 0, 'without a login the private registry refuses');
    assert.match(refused.stderr, /ERR_REGISTRY_AUTH|refused|credentials/i, refused.stderr);
    assert.doesNotMatch(refused.stderr + refused.stdout, new RegExp(registry.password!), 'no password in any output');
    const login = await runCli(['registry', 'login', registry.host, '--app', 'shop', '--username', registry.username!, '--password-stdin'], { env: p.cliEnv, stdin: registry.password! });
    assert.equal(login.code, 0, login.stderr);
    const listed = await p.cli(['registry', 'list', '--app', 'shop', '--json']);
    assert.deepEqual((JSON.parse(listed.stdout) as { registries: { registry: string; username: string }[] }).registries.map((r) => [r.registry, r.username]), [[registry.host, registry.username]]);
    assert.doesNotMatch(listed.stdout, new RegExp(registry.password!));
    const r = await deploy(dir, ['--image', `${registry.host}/shop:v1`]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const rel = await release('shop');
    assert.deepEqual([rel.image.digest, rel.image.kind], [v1.digest, 'oci'], 'the release pins the manifest digest');
    const got = await p.get('a', 'shop', '/');
    assert.deepEqual([got.status, got.body], [200, 'shop v1\n']);
    const asset = await p.get('a', 'shop', '/assets/index.html');
    assert.deepEqual([asset.status, asset.body], [200, 'shop v1\n'], "the edge serves the image's /www");
    assert.equal((await p.get('a', 'shop', '/assets/nope.html')).status, 404, 'a file the image lacks goes to the app (httpd: 404)');
  });

  it('a tag moved after the release was made: a new machine still runs the pinned digest', async () => {
    await web('shop', 'v1', 'shop v2 (the tag moved)\n');
    const r = await p.cli(['scale', 'count', '2', '--app', 'shop', '--region', 'fra']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    await waitFor(async () => ((await p.api('GET', '/v1/apps/shop/status')).body as { machines: { healthy: boolean }[] }).machines.filter((m) => m.healthy).length === 2, 'two healthy machines', 120_000, 200);
    const bodies = new Set<string>();
    for (let i = 0; i < 12; i++) bodies.add((await p.get('a', 'shop', '/')).body);
    assert.deepEqual([...bodies], ['shop v1\n']);
  });

  it("a Python app: python3 is the image's, and the host's /usr is not in the machine's view", async () => {
    const py = await images.python(registry.host, { auth: { username: registry.username!, password: registry.password! } });
    // http.server serving the machine's / (the image's WORKDIR): its directory listings are the view.
    const dir = appDir('py', `[experimental]\ncmd = ["/usr/bin/python3", "-c", "import http.server as h; h.test(HandlerClass=h.SimpleHTTPRequestHandler, port=8080, bind='0.0.0.0')"]\n`);
    await p.api('POST', '/v1/apps', { name: 'py', primary_region: 'fra' });
    const login = await runCli(['registry', 'login', registry.host, '--app', 'py', '--username', registry.username!, '--password-stdin'], { env: p.cliEnv, stdin: registry.password! });
    assert.equal(login.code, 0, login.stderr);
    const r = await deploy(dir, ['--image', `${py.ref.registry}/${py.ref.repository}@${py.digest}`]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const listing = await p.get('a', 'py', '/usr/bin/');
    assert.equal(listing.status, 200, listing.body);
    assert.match(listing.body, /python3/);
    for (const host of ['node', 'bash', 'bwrap', 'buildah']) assert.doesNotMatch(listing.body, new RegExp(`>${host}<`), `${host} is the host's, not the image's`);
  });

  it('a Dockerfile next to the config is built with buildah, its [build.args] applied, and deployed', async () => {
    const dir = appDir('built', '[build.args]\nPAGE = "built from a Dockerfile"\n');
    writeFileSync(join(dir, 'busybox'), readFileSync(BUSYBOX), { mode: 0o755 });
    writeFileSync(
      join(dir, 'Dockerfile'),
      // Exec form: the image has no /bin/sh (and OCI images have no SHELL); build args are the RUN's env.
      `FROM scratch\nCOPY busybox /bin/busybox\nARG PAGE\nRUN ["/bin/busybox", "sh", "-c", "/bin/busybox mkdir /www && echo \\"$PAGE\\" > /www/index.html"]\n${HTTPD}\n`,
    );
    const r = await deploy(dir);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /building .*Dockerfile with buildah/);
    const got = await p.get('a', 'built', '/');
    assert.deepEqual([got.status, got.body], [200, 'built from a Dockerfile\n']);
  });

  it('a registry that is down: the deploy fails in one line, and the running release keeps serving', async () => {
    const down = await startRegistry();
    const host = down.host;
    await down.stop();
    const r = await deploy(appDir('shop'), ['--image', `${host}/shop:v9`]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`${host.replace(/\./g, '\\.')}.*(refused|unreachable|ECONNREFUSED)`, 'i'), r.stderr);
    const got = await p.get('a', 'shop', '/');
    assert.deepEqual([got.status, got.body], [200, 'shop v1\n'], 'the running release keeps serving');
  });
});
