/**
 * A real control plane on loopback for tests that drive the CLI against it: a memory store, one
 * platform token, a fresh temp directory with an empty HOME for the CLI. `close()` stops it and
 * removes the directory.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStore, startControlPlane, type ControlPlane } from '../../src/control/index.js';
import { SystemClock, silentLogger } from '../../src/shared/index.js';

export interface LoopbackControl {
  url: string;
  token: string;
  store: MemoryStore;
  cp: ControlPlane;
  /** The temp directory (removed by close()); `home` is inside it. */
  dir: string;
  home: string;
  close(): Promise<void>;
}

/** `o` sets the control plane's image upload limit and apps domain (control.toml limits.max_image_bytes, apps_domain). */
export async function startLoopbackControl(
  prefix: string,
  token = randomBytes(16).toString('hex'),
  o: { maxImageBytes?: number; appsDomain?: string } = {},
): Promise<LoopbackControl> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const home = join(dir, 'home');
  mkdirSync(home);
  const store = new MemoryStore();
  const cp = await startControlPlane({ listen: { host: '127.0.0.1', port: 0 }, store, tokens: [token], imagesDir: join(dir, 'images'), ...o, secretsKey: randomBytes(32), clock: new SystemClock(), logger: silentLogger });
  return {
    url: `http://127.0.0.1:${cp.address.port}`,
    token,
    store,
    cp,
    dir,
    home,
    async close() {
      await cp.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One JSON call with a bearer token: the status and the parsed answer. */
export async function callApi(base: string, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await fetch(base + path, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? null : JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}
