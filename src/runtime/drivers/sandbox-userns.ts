/**
 * Who a machine is on the host: every app gets a block of 65,536 host uids (and the same gids),
 * and each of its machines runs in a user namespace of its own that maps 0–65535 inside onto that
 * block (`0 <first> 65536`). The app runs as its uid inside (1000 → host uid first+1000; root →
 * first): no host root, no capabilities over anything the host owns, and another app's files are
 * another uid's.
 *
 * The namespace is made by a holder process (`unshare -U -- cat`) run as host uid `first`, so the
 * namespace is owned by the block's own root (see bwrapAs): the driver (host root) writes
 * its uid_map and gid_map — root may map any range, no /etc/subuid needed — then opens
 * /proc/<holder>/ns/user and kills the holder; the open fd alone keeps the namespace alive, and
 * bwrap joins it with `--userns FD`. The holder reads its stdin, a pipe from the driver, so if the
 * driver dies mid-way the holder sees EOF and exits: nothing of it outlives the driver.
 *
 * Blocks are kept in `<state dir>/uid-blocks.json` (0600, replaced atomically) so an app keeps its
 * uids — and so its volumes' ownership — across agent restarts; they are never reused. One agent
 * per host owns the range from `uid_base` up: two agents with overlapping ranges would give
 * different apps the same uids.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readlinkSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StarlingError, type Clock } from '../../shared/index.js';

export const BLOCK_SIZE = 65536;
/** Just above systemd-nspawn's private range (0x00080000–0x6FFFFFFF). */
export const DEFAULT_UID_BASE = 0x70000000;
/** The highest usable host uid: (uid_t)-1 means "no change" to the kernel. */
const LAST_UID = 0xfffffffe;
/** The uid/gid an app runs as inside unless its spec says otherwise. */
export const APP_UID = 1000;

interface BlocksFile {
  version: 1;
  /** app → first host uid of its block. */
  apps: Record<string, number>;
}

/** The per-app uid blocks of one driver, persisted in `file`. */
export class UidBlocks {
  constructor(
    private readonly file: string,
    private readonly base: number,
  ) {
    if (!Number.isInteger(base) || base < BLOCK_SIZE || base % BLOCK_SIZE !== 0 || base + BLOCK_SIZE - 1 > LAST_UID) {
      throw new StarlingError('ERR_SANDBOX_CONFIG', `uid base ${base} must be a multiple of ${BLOCK_SIZE}, at least ${BLOCK_SIZE}, with room for a block below 2^32-1`, {
        fault: 'user',
        hint: `the default is ${DEFAULT_UID_BASE} (0x70000000)`,
      });
    }
  }

  /** The first host uid of `app`'s block, allocating (and persisting) one on first use. */
  firstUid(app: string): number {
    const data = this.read();
    const known = data.apps[app];
    if (known !== undefined) return known;
    const used = new Set(Object.values(data.apps));
    let first = this.base;
    while (used.has(first)) first += BLOCK_SIZE;
    if (first + BLOCK_SIZE - 1 > LAST_UID) {
      throw new StarlingError('ERR_SANDBOX_UIDS_FULL', `no uid block left above ${this.base} for app ${app} (${used.size} apps hold one)`, {
        hint: `${this.file} lists them; remove the entries of apps gone from this host whose volumes are deleted`,
      });
    }
    data.apps[app] = first;
    this.write(data);
    return first;
  }

  private read(): BlocksFile {
    if (!existsSync(this.file)) return { version: 1, apps: {} };
    try {
      const data = JSON.parse(readFileSync(this.file, 'utf8')) as BlocksFile;
      if (data.version === 1 && typeof data.apps === 'object' && data.apps !== null) return data;
    } catch (e) {
      throw new StarlingError('ERR_SANDBOX_UIDS', `cannot read ${this.file}: ${(e as Error).message}`, { cause: e, hint: 'it records which host uids each app owns; restore it from a backup rather than deleting it' });
    }
    throw new StarlingError('ERR_SANDBOX_UIDS', `${this.file} is not a uid-blocks file (version 1)`);
  }

  private write(data: BlocksFile): void {
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(data, null, 2) + '\n', { mode: 0o600 });
    renameSync(tmp, this.file);
  }
}

/**
 * A new user namespace mapping 0–65535 onto `first`…, as an open fd the caller closes. Fails with
 * ERR_SANDBOX_NO_USERNS (and the kernel's reason) where the host cannot give one: user namespaces
 * disabled, or the driver itself inside a user namespace where that range is not mapped (the
 * non-root lab).
 */
export async function createUserNamespace(unshareBin: string, first: number, clock: Clock): Promise<number> {
  const own = readlinkSync('/proc/self/ns/user');
  const fail0 = (why: string): StarlingError => new StarlingError('ERR_SANDBOX_NO_USERNS', `this host cannot give machines a user namespace mapped to host uids ${first}-${first + BLOCK_SIZE - 1}: ${why}`, { hint: NO_USERNS_HINT });
  if (!mapped(first)) throw fail0(`writing its uid/gid map failed (host uid ${first} is not mapped in the agent's own user namespace)`);
  // The holder runs as the block's uid 0 (host uid `first`), so the namespace is that uid's: bwrap,
  // run as `first` too, joins it unprivileged and its uid 0 stays `first` (sandbox.ts).
  const holder = spawn(unshareBin, ['--user', '--', 'cat'], { stdio: ['pipe', 'ignore', 'pipe'], uid: first, gid: first });
  let stderr = '';
  let exited = false;
  holder.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d.slice(0, 2000)));
  holder.once('close', () => (exited = true));
  holder.stdin.on('error', () => undefined);
  const fail = (why: string, cause?: unknown): StarlingError =>
    new StarlingError('ERR_SANDBOX_NO_USERNS', `this host cannot give machines a user namespace mapped to host uids ${first}-${first + BLOCK_SIZE - 1}: ${why}`, {
      cause,
      hint: NO_USERNS_HINT,
    });
  try {
    await new Promise<void>((resolve, reject) => {
      holder.once('spawn', resolve);
      holder.once('error', (e) => reject(fail(`cannot run ${unshareBin}: ${e.message}`, e)));
    });
    const pid = holder.pid ?? 0;
    // unshare(2) happens a moment after exec; the holder is in its namespace once the link differs.
    const deadline = clock.monotonic() + 5000;
    for (;;) {
      let link = own;
      try {
        link = readlinkSync(`/proc/${pid}/ns/user`);
      } catch {
        /* gone: reported below */
      }
      if (link !== own) break;
      if (exited) throw fail(stderr.trim() || 'unshare --user exited');
      if (clock.monotonic() > deadline) throw fail('the holder did not enter a new user namespace within 5 s');
      await clock.sleep(1);
    }
    try {
      writeFileSync(`/proc/${pid}/uid_map`, `0 ${first} ${BLOCK_SIZE}\n`);
      writeFileSync(`/proc/${pid}/gid_map`, `0 ${first} ${BLOCK_SIZE}\n`);
    } catch (e) {
      throw fail(`writing its uid/gid map failed (${(e as Error).message})`, e);
    }
    return openSync(`/proc/${pid}/ns/user`, 'r');
  } finally {
    holder.stdin.destroy();
    if (!exited) holder.kill('SIGKILL');
  }
}

const NO_USERNS_HINT =
  'machines would run as the host user running the agent; allow that only where that user is unprivileged ' +
  '(the non-root lab) with [runtime] allow_host_root = true in agent.toml, or enable user namespaces (sysctl user.max_user_namespaces)';

/** Whether the whole block from `first` is mapped in this process's user namespace (not so in the non-root lab). */
function mapped(first: number): boolean {
  let text = '';
  try {
    text = readFileSync('/proc/self/uid_map', 'utf8');
  } catch {
    return true; // no user namespaces at all: unshare reports that
  }
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number))
    .some(([inside = -1, , count = 0]) => inside <= first && first + BLOCK_SIZE <= inside + count);
}

/**
 * Who runs bwrap (sandbox.ts): bwrap 0.8, not setuid, joins `--userns` and then calls
 * setuid(uid) only if uid differs from its real uid, and setgid(gid) likewise, after the setuid.
 * - uid 0 inside: bwrap runs as host uid `first`, the namespace's owner (above): it
 *   joins unprivileged, setuid(0) makes it the namespace's root = host uid `first`.
 * - any other uid: bwrap runs as host root with real gid `first`: setuid(uid) from a uid outside
 *   the namespace keeps its capabilities there, so setgid(gid) follows even for gid 0 (which as
 *   bwrap's real gid would be skipped and stay host gid 0). As `first` it could not: setuid from
 *   the namespace's root to another uid drops the capabilities setgid needs.
 * Either way bwrap then drops every capability (--cap-drop ALL); without a namespace: as today.
 */
export function bwrapAs(setpriv: string, first: number | undefined, uid: number): string[] {
  if (first === undefined) return [];
  const ids = uid === 0 ? [`--reuid=${first}`, `--regid=${first}`] : [`--regid=${first}`];
  return [setpriv, ...ids, '--clear-groups'];
}

/** Closes a namespace fd; tolerant of one already closed. */
export function closeUserNamespace(fd: number | undefined): void {
  if (fd === undefined) return;
  try {
    closeSync(fd);
  } catch {
    /* already closed */
  }
}

export const uidBlocksFile = (stateDir: string): string => join(stateDir, 'uid-blocks.json');
