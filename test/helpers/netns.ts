import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/**
 * Network namespaces for tests that need real routing: two hosts joined by a veth. Needs root (or a
 * user namespace made with `unshare -Urnm` and a tmpfs on /run). Names are random so parallel test
 * files never collide; `destroy()` removes everything it made.
 */
export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function inNs(ns: string, ...cmd: string[]): string {
  return execFileSync('ip', ['netns', 'exec', ns, ...cmd], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface Link {
  /** The two namespaces. */
  a: string;
  b: string;
  /** Interface names inside a and b. */
  ifA: string;
  ifB: string;
  addrA: string;
  addrB: string;
  destroy(): void;
}

/** Two namespaces joined by a veth, with IPv4 /30 addresses (and IPv6 /64), links up, forwarding on. */
export function twoHosts(prefix = 'st'): Link {
  const id = randomBytes(3).toString('hex');
  const a = `${prefix}a${id}`;
  const b = `${prefix}b${id}`;
  const ifA = `va${id}`;
  const ifB = `vb${id}`;
  // 10.x addresses live only inside these namespaces; nothing ever leaves them.
  const octet = 1 + (parseInt(id.slice(0, 2), 16) % 250);
  const addrA = `10.${octet}.0.1`;
  const addrB = `10.${octet}.0.2`;
  ip('netns', 'add', a);
  ip('netns', 'add', b);
  const destroy = (): void => {
    for (const ns of [a, b]) {
      try {
        ip('netns', 'del', ns);
      } catch {
        /* already gone */
      }
    }
  };
  try {
    ip('link', 'add', ifA, 'netns', a, 'type', 'veth', 'peer', 'name', ifB, 'netns', b);
    for (const [ns, ifn, addr, v6] of [
      [a, ifA, addrA, `fd00:${octet.toString(16)}::1`],
      [b, ifB, addrB, `fd00:${octet.toString(16)}::2`],
    ] as const) {
      inNs(ns, 'ip', 'link', 'set', 'lo', 'up');
      inNs(ns, 'ip', 'addr', 'add', `${addr}/30`, 'dev', ifn);
      inNs(ns, 'ip', '-6', 'addr', 'add', `${v6}/64`, 'dev', ifn, 'nodad');
      inNs(ns, 'ip', 'link', 'set', ifn, 'up');
      inNs(ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
    }
  } catch (e) {
    destroy();
    throw e;
  }
  return { a, b, ifA, ifB, addrA, addrB, destroy };
}

/** Whether this process may create network namespaces (root, or inside unshare -Urnm). */
export function canMakeNamespaces(): boolean {
  const probe = `stprobe${randomBytes(3).toString('hex')}`;
  try {
    ip('netns', 'add', probe);
    ip('netns', 'del', probe);
    return true;
  } catch {
    return false;
  }
}
