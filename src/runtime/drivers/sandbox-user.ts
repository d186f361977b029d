/**
 * Who a machine's app is inside: MachineSpec.user resolved to ids and a home. An object is taken
 * as it is; a string is an image's USER as written — '' (root), 'name', 'uid', 'uid:gid',
 * 'name:group' and the mixed forms — with names looked up in the image's own /etc/passwd and
 * /etc/group (read from its root filesystem on the host; numeric forms need neither file). On the
 * host base the machine's passwd is the generated one (sandbox-args.ts): its names are root and app.
 *
 * Ids must fall inside the machine's 65536-id range and not be nobody (65534) or the overflow id
 * (65535): root (0) is allowed — through the user namespace it is the app's first host uid.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StarlingError } from '../../shared/index.js';
import type { MachineSpec } from '../types.js';

export interface ResolvedUser {
  uid: number;
  gid: number;
  /** HOME inside: the passwd entry's home, or /home/app (host base) and /root (root of an image). */
  home: string;
}

/** The host base's "app" user, as today. */
export const HOST_BASE_USER = { uid: 1000, gid: 1000, home: '/home/app' } as const;
const MAX_ID = 65533;

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** `rootfs`: the image's root filesystem on the host, or undefined for the host base. */
export function resolveUser(spec: MachineSpec, rootfs: string | undefined): ResolvedUser {
  const bad = (what: string): never => {
    throw new StarlingError('ERR_MACHINE_SPEC', `machine ${spec.id}: ${what}`, { fault: 'user' });
  };
  const passwd = (): PasswdEntry[] =>
    rootfs === undefined
      ? [
          { name: 'root', uid: 0, gid: 0, home: '/root' },
          { name: 'app', ...HOST_BASE_USER },
        ]
      : readDb(join(rootfs, 'etc', 'passwd')).map((f) => ({ name: f[0] ?? '', uid: Number(f[2]), gid: Number(f[3]), home: f[5] || '/' }));
  const groups = (): { name: string; gid: number }[] =>
    rootfs === undefined
      ? [
          { name: 'root', gid: 0 },
          { name: 'app', gid: HOST_BASE_USER.gid },
        ]
      : readDb(join(rootfs, 'etc', 'group')).map((f) => ({ name: f[0] ?? '', gid: Number(f[2]) }));
  const check = (what: string, n: number): number => {
    if (!Number.isInteger(n) || n < 0 || n > MAX_ID) bad(`user ${what} ${n} must be from 0 to ${MAX_ID} (inside the machine's 65536-id range, not nobody)`);
    return n;
  };
  const u = spec.user ?? (rootfs === undefined ? { uid: HOST_BASE_USER.uid, gid: HOST_BASE_USER.gid } : '');
  if (typeof u === 'object') {
    const uid = check('uid', u.uid);
    const gid = check('gid', u.gid);
    const entry = passwd().find((e) => e.uid === uid);
    return { uid, gid, home: entry?.home ?? (uid === 0 ? '/root' : HOST_BASE_USER.home) };
  }
  const text = u.trim();
  if (text.includes('\0') || text.split(':').length > 2) bad(`user ${JSON.stringify(u)} is not of the form user[:group]`);
  const [userPart = '', groupPart] = text === '' ? ['0'] : text.split(':');
  let uid: number;
  let gid: number | undefined;
  let home: string | undefined;
  if (/^\d+$/.test(userPart)) {
    uid = check('uid', Number(userPart));
    const entry = passwd().find((e) => e.uid === uid);
    gid = entry?.gid;
    home = entry?.home;
  } else {
    const entry = passwd().find((e) => e.name === userPart);
    if (!entry) return bad(`user "${userPart}" is not in the image's /etc/passwd`);
    uid = check('uid', entry.uid);
    gid = entry.gid;
    home = entry.home;
  }
  if (groupPart !== undefined) {
    if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
    else {
      const g = groups().find((e) => e.name === groupPart);
      if (!g) return bad(`group "${groupPart}" is not in the image's /etc/group`);
      gid = g.gid;
    }
  }
  // A uid without a passwd entry and no group given: gid 0, as Docker and runc do (images made for
  // arbitrary uids rely on it); inside the namespace that is the block's first gid, not the host's.
  return { uid, gid: check('gid', gid ?? 0), home: home ?? (uid === 0 ? '/root' : '/') };
}

/** Entries of a colon-separated database; a missing file is empty (numeric users need none). */
function readDb(file: string): string[][] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => l.split(':'));
}
