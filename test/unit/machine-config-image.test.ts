/**
 * A release of an OCI image becomes a machine config as Docker would run it (contract's
 * machineConfigFor): ENTRYPOINT/CMD and their [experimental] overrides, ENV below [env] and
 * secrets, USER and WORKDIR passed on, STOPSIGNAL unless kill_signal is set; a quick-start image
 * keeps the config's own command.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { machineConfigFor, type ImageDefaults } from '../../src/contract/index.js';

const image: ImageDefaults = { base: 'image', entrypoint: ['/docker-entrypoint.sh'], cmd: ['nginx', '-g', 'daemon off;'], env: { PATH: '/usr/local/bin:/usr/bin', NGINX_VERSION: '1.27', LEVEL: 'image' }, workdir: '/srv', user: 'www', stopSignal: 'SIGQUIT' };
const make = (toml: Record<string, unknown>, defaults: ImageDefaults | undefined = image, secrets: Record<string, string> = {}) =>
  machineConfigFor({ app: 'web', ...toml }, { app: 'web', image: 'oci:sha256:' + 'a'.repeat(64), secrets, defaults });

describe('machine config of an OCI image', () => {
  it("runs the image's ENTRYPOINT + CMD, as its USER in its WORKDIR, stopped by its STOPSIGNAL", () => {
    const c = make({});
    assert.deepEqual(c.cmd, ['/docker-entrypoint.sh', 'nginx', '-g', 'daemon off;']);
    assert.deepEqual([c.user, c.workdir, c.kill_signal], ['www', '/srv', 'SIGQUIT']);
  });

  it('[experimental] cmd replaces CMD; entrypoint replaces ENTRYPOINT and drops CMD, as Docker does', () => {
    assert.deepEqual(make({ experimental: { cmd: ['nginx', '-T'] } }).cmd, ['/docker-entrypoint.sh', 'nginx', '-T']);
    assert.deepEqual(make({ experimental: { entrypoint: ['/bin/sh', '-c'] } }).cmd, ['/bin/sh', '-c']);
    assert.deepEqual(make({ experimental: { entrypoint: ['/bin/sh', '-c'], cmd: ['echo hi'] } }).cmd, ['/bin/sh', '-c', 'echo hi']);
  });

  it("a platform machine's init.cmd replaces CMD and keeps the ENTRYPOINT, as fly's does", () => {
    const c = machineConfigFor({ app: 'web' }, { app: 'web', image: 'oci:sha256:' + 'a'.repeat(64), secrets: {}, defaults: image, cmd: ['nginx', '-T'] });
    assert.deepEqual(c.cmd, ['/docker-entrypoint.sh', 'nginx', '-T']);
  });

  it('an image with nothing to run is refused with a hint, not started to fail', () => {
    assert.throws(() => make({}, { ...image, entrypoint: [], cmd: [] }), (e: Error & { code?: string; hint?: string }) => e.code === 'ERR_MACHINE_SPEC' && /experimental\] cmd/.test(e.hint ?? ''));
  });

  it('ENV is below [env], and a secret of the same name takes the name', () => {
    const c = make({ env: { LEVEL: 'config', TOKEN: 'not this' } }, image, { TOKEN: 's3cret' });
    assert.deepEqual(c.env, { PATH: '/usr/local/bin:/usr/bin', NGINX_VERSION: '1.27', LEVEL: 'config' });
    assert.deepEqual(c.secrets, { TOKEN: 's3cret' });
  });

  it('kill_signal set in the config wins over STOPSIGNAL; numbers and bare names are understood', () => {
    assert.equal(make({ kill_signal: 'SIGTERM' }).kill_signal, 'SIGTERM');
    assert.equal(make({}, { ...image, stopSignal: '15' }).kill_signal, 'SIGTERM');
    assert.equal(make({}, { ...image, stopSignal: 'usr1' }).kill_signal, 'SIGUSR1');
    assert.equal(make({}, { ...image, stopSignal: 'SIGWINCH' }).kill_signal, 'SIGINT', 'a signal fly does not offer: the default');
  });

  it("a quick-start image keeps the config's command and the host's defaults", () => {
    const c = make({ experimental: { cmd: ['node', 'server.mjs'] } }, { ...image, base: 'host' });
    assert.deepEqual(c.cmd, ['node', 'server.mjs']);
    assert.equal(c.user, undefined);
    assert.equal(c.kill_signal, 'SIGINT');
    assert.deepEqual(c.env, {});
  });
});
