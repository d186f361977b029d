/**
 * The lab's PoP hosts on the WireGuard mesh (docs/private-network.md): every agent gets `[mesh]`,
 * so proxy-to-proxy requests between PoPs (a replayed write, a machine in another region) travel
 * inside WireGuard across the lab's routed links, as between real hosts.
 *
 * wireguard-go's UAPI sockets are one directory for the whole computer, not per network namespace,
 * so an interface name must be unique on the computer: it carries a hash of the lab's name, and
 * labs (and test runs) never collide.
 *
 * A lab run by a normal user has no mesh: wireguard-go's socket directory (/var/run/wireguard)
 * belongs to the real root, which the user namespace cannot write. Its PoPs' proxies reach each
 * other on the lab's links in plaintext, as hosts without [mesh] do.
 *
 * An agent that was killed (`lab fail --mode crash`) leaves its wireguard-go running — on purpose:
 * on a real host the restarted agent adopts it and the mesh never went down. `lab down` stops such
 * strays by their interface names.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import type { Clock } from '../shared/index.js';

/** `sw` + 5 hex digits of the lab's name: the start of every mesh interface name of the lab. */
export function labMeshPrefix(lab: string): string {
  return `sw${createHash('sha256').update(lab).digest('hex').slice(0, 5)}`;
}

/** The PoP host's WireGuard interface (at most 15 characters: host ids are a city code and a digit). */
export function labMeshInterface(lab: string, hostId: string): string {
  return `${labMeshPrefix(lab)}${hostId}`.slice(0, 15);
}

/** The `[mesh]` lines of a PoP host's agent.toml; none in a normal user's lab (see above). */
export function labMeshToml(lab: string, hostId: string, inUserNamespace: boolean): string {
  if (inUserNamespace) return '# No [mesh]: a normal user\'s lab cannot run wireguard-go (docs/private-network.md).\n';
  return `[mesh]
# The PoPs' WireGuard mesh: other PoPs reach this host's machines inside it (docs/private-network.md).
interface = "${labMeshInterface(lab, hostId)}"
`;
}

/** Pids of the wireguard-go processes running an interface of lab `lab`. */
export function labMeshProcesses(lab: string): number[] {
  const prefix = labMeshPrefix(lab);
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // gone meanwhile
    }
    const ifname = argv.filter((a) => a !== '').at(-1);
    if (argv[0]?.endsWith('wireguard-go') && ifname?.startsWith(prefix)) pids.push(Number(entry));
  }
  return pids;
}

/**
 * Stops the lab's stray wireguard-go processes (their interfaces go with them): SIGTERM, then
 * SIGKILL for any still there after 2 s. Returns how many there were.
 */
export async function stopLabMesh(lab: string, clock: Clock): Promise<number> {
  const strays = labMeshProcesses(lab);
  const signal = (sig: NodeJS.Signals): void => {
    for (const pid of labMeshProcesses(lab)) {
      try {
        process.kill(pid, sig);
      } catch {
        /* exited meanwhile */
      }
    }
  };
  signal('SIGTERM');
  const deadline = clock.monotonic() + 2000;
  while (labMeshProcesses(lab).length > 0 && clock.monotonic() < deadline) await clock.sleep(20);
  signal('SIGKILL');
  return strays.length;
}
