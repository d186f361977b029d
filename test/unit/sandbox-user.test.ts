/**
 * MachineSpec.user → ids and HOME (sandbox-user.ts): objects as given, an image's USER string
 * resolved against the image's own /etc/passwd and /etc/group, defaults per base, and the errors.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { MachineSpec } from '../../src/runtime/index.js';
import { resolveUser } from '../../src/runtime/drivers/sandbox-user.js';
import { isStarlingError } from '../../src/shared/index.js';

describe('resolveUser', () => {
  const rootfs = mkdtempSync(join(tmpdir(), 'starling-user-'));
  const bare = mkdtempSync(join(tmpdir(), 'starling-user-bare-'));
  mkdirSync(join(rootfs, 'etc'));
  writeFileSync(join(rootfs, 'etc', 'passwd'), '# comment\nroot:x:0:0:root:/root:/bin/sh\nweb:x:33:34:www:/var/www:/bin/false\nnohome:x:77:78::::\n');
  writeFileSync(join(rootfs, 'etc', 'group'), 'root:x:0:\nstaff:x:50:web\n');
  after(() => [rootfs, bare].forEach((d) => rmSync(d, { recursive: true, force: true })));
  const spec = (user: MachineSpec['user']): MachineSpec => ({ id: 'u1', user }) as MachineSpec;
  const bad = (user: MachineSpec['user'], text: RegExp, fs: string | undefined = rootfs): void =>
    assert.throws(() => resolveUser(spec(user), fs), (e: unknown) => isStarlingError(e, 'ERR_MACHINE_SPEC') && text.test(e.message), JSON.stringify(user));

  it('defaults: 1000:1000 with /home/app on the host base, root on an image base', () => {
    assert.deepEqual(resolveUser(spec(undefined), undefined), { uid: 1000, gid: 1000, home: '/home/app' });
    assert.deepEqual(resolveUser(spec(undefined), rootfs), { uid: 0, gid: 0, home: '/root' });
    assert.deepEqual(resolveUser(spec(''), rootfs), { uid: 0, gid: 0, home: '/root' });
  });

  it("names and numbers from the image's passwd and group, in every form", () => {
    assert.deepEqual(resolveUser(spec('web'), rootfs), { uid: 33, gid: 34, home: '/var/www' });
    assert.deepEqual(resolveUser(spec('web:staff'), rootfs), { uid: 33, gid: 50, home: '/var/www' });
    assert.deepEqual(resolveUser(spec('33'), rootfs), { uid: 33, gid: 34, home: '/var/www' }, 'a known uid takes its primary group');
    assert.deepEqual(resolveUser(spec('33:0'), rootfs), { uid: 33, gid: 0, home: '/var/www' });
    assert.deepEqual(resolveUser(spec('nohome'), rootfs), { uid: 77, gid: 78, home: '/' });
    assert.deepEqual(resolveUser(spec('1000:1000'), bare), { uid: 1000, gid: 1000, home: '/' }, 'numeric forms need no file');
    assert.deepEqual(resolveUser(spec('4242'), bare), { uid: 4242, gid: 0, home: '/' }, 'an unknown uid gets gid 0, as with Docker');
    assert.deepEqual(resolveUser(spec({ uid: 33, gid: 50 }), rootfs), { uid: 33, gid: 50, home: '/var/www' });
    assert.deepEqual(resolveUser(spec('app'), undefined), { uid: 1000, gid: 1000, home: '/home/app' }, "the host base's generated passwd");
  });

  it('unknown names, bad forms and ids outside the range are refused, naming them', () => {
    bad('ghost', /user "ghost" is not in the image's \/etc\/passwd/);
    bad('web:ghosts', /group "ghosts" is not in the image's \/etc\/group/);
    bad('web', /user "web"/, bare);
    bad('a:b:c', /not of the form user\[:group\]/);
    bad('65534', /uid 65534 must be from 0 to 65533/);
    bad('1:70000', /gid 70000 must be from 0 to 65533/);
    bad({ uid: -1, gid: 0 }, /uid -1/);
    bad({ uid: 1.5, gid: 0 }, /uid 1.5/);
  });
});
