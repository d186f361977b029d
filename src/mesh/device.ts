/**
 * The host's WireGuard interface, run by wireguard-go (Debian's `wireguard-go`) and driven over its
 * UAPI socket: the agent starts it in the foreground as its child, gives it the private key over
 * the socket (never in argv or a file other than the key's own), puts the mesh address on it and
 * brings it up. An interface left by an agent that died is adopted, not doubled.
 *
 * wireguard-go's sockets live in one directory for the whole computer, not per network namespace:
 * interface names must be unique per computer (agent.toml's [mesh] interface).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { StarlingError, type Clock, type Logger } from '../shared/index.js';
import { addressAndUp, syncLocalAddresses, toolRunner, type MeshDevice, type Tool } from './link-tools.js';
import { answerComplete, errnoOf, formatSet, GET, parseGet, type DeviceState, type SetOp } from './uapi.js';

export interface DeviceOptions {
  /** Interface name: 1–15 of [A-Za-z0-9_.-], unique on the computer. */
  name: string;
  privateKey: string;
  listenPort: number;
  /** The host's mesh address with the platform prefix length (`fdaa:1::1/16`): the prefix routes into the mesh. */
  address: string;
  /**
   * More addresses for the interface (`fdaa::3/128`, the private DNS): local to this host, never
   * routed into the mesh. Added deprecated (preferred_lft 0) so the kernel never picks one as the
   * source of a connection to another host: `fdaa::3` shares more leading bits with `fdaa:1::1`
   * than `fdaa:2::1` does, and would win (RFC 6724 rule 8) — a source no peer's allowed ips hold.
   */
  extraAddresses?: readonly string[];
  /** Put before every command (tests and the lab: `ip netns exec NS`). */
  wrap?: readonly string[];
  binary?: string;
  socketDir?: string;
  clock: Clock;
  logger: Logger;
}

const START_TIMEOUT_MS = 5000;
const CALL_TIMEOUT_MS = 3000;

export class WireguardGoDevice implements MeshDevice {
  readonly kind = 'wireguard-go';
  private child: ChildProcess | undefined;
  private exited = false;
  readonly socketPath: string;
  private readonly tool: Tool;

  constructor(private readonly o: DeviceOptions) {
    this.socketPath = join(o.socketDir ?? '/var/run/wireguard', `${o.name}.sock`);
    this.tool = toolRunner(o.wrap);
  }

  async open(): Promise<void> {
    const adopted = existsSync(this.socketPath) && (await this.get().then(() => true, () => false));
    if (!adopted) await this.start();
    else this.o.logger.info('WireGuard interface adopted from an earlier run', { interface: this.o.name });
    await this.set({ privateKey: this.o.privateKey, listenPort: this.o.listenPort });
    await addressAndUp(this.tool, this.o.name, this.o.address, this.o.extraAddresses ?? []);
  }

  /**
   * Makes the interface's local service addresses (private service addresses, `/128`, added as
   * the extra ones are) exactly `want`: what is on it besides the mesh address and the extra
   * addresses is compared with `want` (so what an earlier run left is removed too).
   */
  syncServiceAddresses(want: readonly string[]): Promise<{ added: string[]; removed: string[] }> {
    return syncLocalAddresses(this.tool, this.o.name, [this.o.address, ...(this.o.extraAddresses ?? [])], want);
  }

  private async start(): Promise<void> {
    const [file, ...args] = [...(this.o.wrap ?? []), this.o.binary ?? 'wireguard-go', '-f', this.o.name];
    let out = '';
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WG_PROCESS_FOREGROUND: '1' } });
    this.child = child;
    child.stdout?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-2000)));
    child.stderr?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-2000)));
    child.on('error', (e) => {
      this.exited = true;
      out += `\n${e.message}`;
    });
    child.on('exit', (code, signal) => {
      this.exited = true;
      if (this.child === child) this.o.logger.warn('wireguard-go exited', { interface: this.o.name, code, signal, output: out.trim().slice(-400) });
    });
    const deadline = this.o.clock.monotonic() + START_TIMEOUT_MS;
    while (!(existsSync(this.socketPath) && (await this.get().then(() => true, () => false)))) {
      if (this.exited || this.o.clock.monotonic() > deadline) {
        child.kill('SIGKILL');
        throw new StarlingError('ERR_MESH_DEVICE', `wireguard-go did not bring up ${this.o.name}: ${out.trim().slice(-300) || 'no output'} (is wireguard-go installed? npm run setup)`);
      }
      await this.o.clock.sleep(20);
    }
  }

  async get(): Promise<DeviceState> {
    return parseGet(await this.call(GET));
  }

  async set(op: SetOp): Promise<void> {
    const answer = await this.call(formatSet(op));
    const errno = errnoOf(answer);
    if (errno !== 0) throw new StarlingError('ERR_MESH_DEVICE', `WireGuard ${this.o.name} refused a change (errno ${errno})`);
  }

  /** Stops wireguard-go (the interface goes with it). */
  async close(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || this.exited) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    await gone;
  }

  private call(text: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const sock = createConnection(this.socketPath);
      let answer = '';
      const timer = this.o.clock.setTimeout(() => sock.destroy(new Error('no answer')), CALL_TIMEOUT_MS);
      sock.setEncoding('utf8');
      sock.on('connect', () => sock.write(text));
      sock.on('data', (d: string) => {
        answer += d;
        if (answerComplete(answer)) sock.end();
      });
      sock.on('error', (e) => {
        timer.cancel();
        reject(new StarlingError('ERR_MESH_DEVICE', `WireGuard ${this.o.name} (${this.socketPath}): ${e.message}`));
      });
      sock.on('close', () => {
        timer.cancel();
        if (answerComplete(answer)) resolve(answer);
        else reject(new StarlingError('ERR_MESH_DEVICE', `WireGuard ${this.o.name}: the answer was cut short`));
      });
    });
  }
}
