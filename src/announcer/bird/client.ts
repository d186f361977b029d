import type { ErrorCode } from '../../shared/index.js';
import net from 'node:net';
import { StarlingError, SystemClock, type Clock, type TimerHandle } from '../../shared/index.js';
import { ReplyCode, ReplyParser, replyCodeName, type BirdReply } from './protocol.js';
import { parseProtocols, parseRoutes, type BirdProtocol, type BirdRoute } from './show.js';

export interface BirdClientOptions {
  /** Bound on connecting + greeting, and on each command from the moment it is queued. */
  timeoutMs?: number;
  clock?: Clock;
}

/** ERR_BIRD_COMMAND: BIRD answered with an 8xxx (run-time) or 9xxx (parse-time) error. */
export class BirdCommandError extends StarlingError {
  constructor(
    readonly command: string,
    readonly reply: BirdReply,
  ) {
    const text = reply.lines.map((l) => l.text).filter((t) => t !== '').join('; ');
    super('ERR_BIRD_COMMAND', `BIRD rejected \`${command}\`: ${text} (${reply.code}, ${replyCodeName(reply.code)})`, {
      fault: 'system',
    });
  }
}

interface Pending {
  text: string;
  resolve: (r: BirdReply) => void;
  reject: (e: Error) => void;
  timer: TimerHandle | undefined;
  /** abandoned: timed out after being sent; its reply is still to come and is dropped. */
  state: 'queued' | 'sent' | 'abandoned';
}

const SYMBOL = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * A connection to BIRD's control socket (`bird -s PATH`), speaking the protocol birdc speaks.
 * Commands go one at a time, as birdc sends them, and are answered in the order they were called.
 */
export class BirdClient {
  /** From the greeting, e.g. "2.0.12". */
  version = '';
  private readonly queue: Pending[] = [];
  private inflight: Pending | undefined;
  /** Resolves when the connection is gone (close(), BIRD exiting, a protocol error). */
  readonly closed: Promise<void>;
  private failure: StarlingError | undefined;
  private connected = false;
  private readonly parser = new ReplyParser();

  private constructor(
    readonly socketPath: string,
    private readonly socket: net.Socket,
    private readonly timeoutMs: number,
    private readonly clock: Clock,
  ) {
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    let lastError: Error | undefined;
    socket.on('connect', () => (this.connected = true));
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', (e) => (lastError = e));
    socket.on('close', () => {
      const why = lastError ? `: ${lastError.message}` : '';
      const msg = this.connected
        ? `the connection to BIRD's control socket ${socketPath} closed${why}`
        : `cannot connect to BIRD's control socket ${socketPath}${why}`;
      this.fail(new StarlingError('ERR_BIRD_SOCKET', msg, { cause: lastError, hint: 'is bird running with -s on this path?' }));
    });
  }

  /** Connects and reads the greeting (`0001 BIRD 2.0.12 ready.`). */
  static async connect(socketPath: string, opts: BirdClientOptions = {}): Promise<BirdClient> {
    const socket = net.createConnection({ path: socketPath });
    const client = new BirdClient(socketPath, socket, opts.timeoutMs ?? 5000, opts.clock ?? new SystemClock());
    try {
      const greeting = await client.enqueue('', `no greeting from BIRD's control socket ${socketPath}`, 'ERR_BIRD_SOCKET');
      if (greeting.code !== ReplyCode.WELCOME) {
        throw new StarlingError('ERR_BIRD_SOCKET', `${socketPath} did not greet like BIRD: ${greeting.lines[0]?.text ?? ''}`);
      }
      client.version = /BIRD (\S+)/.exec(greeting.lines[0]?.text ?? '')?.[1] ?? '';
      return client;
    } catch (e) {
      socket.destroy();
      throw e;
    }
  }

  /** False once the connection is gone; every command then rejects with ERR_BIRD_SOCKET. */
  get isOpen(): boolean {
    return this.failure === undefined;
  }

  /**
   * Sends one command; resolves with its reply, or rejects: ERR_BIRD_COMMAND for 8xxx/9xxx,
   * ERR_BIRD_TIMEOUT when no reply came within the timeout (counted from this call, queue included).
   */
  async command(text: string, opts: { timeoutMs?: number } = {}): Promise<BirdReply> {
    if (text.trim() === '' || /[\r\n]/.test(text)) {
      throw new StarlingError('ERR_BIRD_ARGUMENT', `not a single BIRD command: ${JSON.stringify(text)}`, { fault: 'user' });
    }
    const reply = await this.enqueue(text, `BIRD did not answer \`${text}\``, 'ERR_BIRD_TIMEOUT', opts.timeoutMs);
    if (!reply.ok) throw new BirdCommandError(text, reply);
    return reply;
  }

  async showProtocols(): Promise<BirdProtocol[]> {
    return parseProtocols(await this.command('show protocols'));
  }

  /** `show protocols all [name]`: details, BGP state, last error, timers, channel route counts. */
  async showProtocolsAll(name?: string): Promise<BirdProtocol[]> {
    return parseProtocols(await this.command(name === undefined ? 'show protocols all' : `show protocols all ${symbol(name)}`));
  }

  /** `show route [args]`, e.g. `all`, `for 198.51.100.1`, `where proto = "s4"`, `all export up1`. */
  async showRoute(args = ''): Promise<BirdRoute[]> {
    try {
      return parseRoutes(await this.command(args.trim() === '' ? 'show route' : `show route ${args}`));
    } catch (e) {
      // `show route for X` with no route answers 8001 "Network not found": an empty answer, not a fault.
      if (e instanceof BirdCommandError && e.reply.code === ReplyCode.ROUTE_NOT_FOUND) return [];
      throw e;
    }
  }

  async enable(name: string): Promise<'enabled' | 'already-enabled'> {
    const code = firstCode(await this.command(`enable ${symbol(name)}`));
    return code === ReplyCode.ALREADY_ENABLED ? 'already-enabled' : 'enabled';
  }

  async disable(name: string): Promise<'disabled' | 'already-disabled'> {
    const code = firstCode(await this.command(`disable ${symbol(name)}`));
    return code === ReplyCode.ALREADY_DISABLED ? 'already-disabled' : 'disabled';
  }

  /**
   * `configure ["file"]` (BIRD's own config file when no path; a relative path is relative to BIRD's
   * working directory). 0003: applied; 0004: applied, protocols still restarting; 0005: queued after a
   * reconfiguration in progress. A bad config is 8002, thrown as ERR_BIRD_COMMAND with BIRD's
   * `file:line:col message`, and BIRD keeps running the old one.
   */
  async configure(path?: string): Promise<'reconfigured' | 'in-progress' | 'queued'> {
    const cmd = path === undefined ? 'configure' : `configure ${quoted(path)}`;
    const reply = await this.command(cmd);
    switch (reply.code) {
      case ReplyCode.RECONFIGURED:
      case ReplyCode.RECONFIGURATION_CONFIRMED:
        return 'reconfigured';
      case ReplyCode.RECONFIGURATION_IN_PROGRESS:
        return 'in-progress';
      case ReplyCode.RECONFIGURATION_QUEUED:
        return 'queued';
      default:
        // 0006 (shutting down) and anything else: the new config is not in effect.
        throw new BirdCommandError(cmd, reply);
    }
  }

  /** `configure check ["file"]`: parses the config without applying it (0020 Configuration OK). */
  async checkConfig(path?: string): Promise<void> {
    const cmd = path === undefined ? 'configure check' : `configure check ${quoted(path)}`;
    const reply = await this.command(cmd);
    if (reply.code !== ReplyCode.CONFIGURATION_OK) throw new BirdCommandError(cmd, reply);
  }

  /** Closes the connection; commands still pending reject with ERR_BIRD_SOCKET. */
  async close(): Promise<void> {
    this.fail(new StarlingError('ERR_BIRD_SOCKET', `the connection to BIRD's control socket ${this.socketPath} was closed by us`));
    this.socket.destroy();
    await this.closed;
  }

  private enqueue(text: string, timeoutMessage: string, timeoutCode: ErrorCode, timeoutMs = this.timeoutMs): Promise<BirdReply> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<BirdReply>((resolve, reject) => {
      const p: Pending = { text, resolve, reject, timer: undefined, state: 'queued' };
      p.timer = this.clock.setTimeout(() => {
        if (p.state === 'queued') this.queue.splice(this.queue.indexOf(p), 1);
        else p.state = 'abandoned';
        reject(new StarlingError(timeoutCode, `${timeoutMessage} within ${timeoutMs} ms`));
      }, timeoutMs);
      if (text === '') {
        // The greeting: BIRD speaks first.
        p.state = 'sent';
        this.inflight = p;
      } else {
        this.queue.push(p);
        this.pump();
      }
    });
  }

  private pump(): void {
    if (this.inflight || this.failure) return;
    const next = this.queue.shift();
    if (!next) return;
    next.state = 'sent';
    this.inflight = next;
    this.socket.write(`${next.text}\n`);
  }

  private onData(d: Buffer): void {
    let replies: BirdReply[];
    try {
      replies = this.parser.push(d);
    } catch (e) {
      this.fail(e instanceof StarlingError ? e : new StarlingError('ERR_BIRD_PROTOCOL', String(e)));
      this.socket.destroy();
      return;
    }
    for (const reply of replies) {
      const p = this.inflight;
      this.inflight = undefined;
      if (p?.state === 'sent') {
        p.timer?.cancel();
        p.resolve(reply);
      }
      // No command in flight: a reply nobody asked for; abandoned: the late answer to a timed-out one.
    }
    this.pump();
  }

  private fail(e: StarlingError): void {
    if (this.failure) return;
    this.failure = e;
    const all = this.inflight ? [this.inflight, ...this.queue] : [...this.queue];
    this.inflight = undefined;
    this.queue.length = 0;
    for (const p of all) {
      p.timer?.cancel();
      if (p.state !== 'abandoned') p.reject(e);
    }
  }
}

function firstCode(reply: BirdReply): number {
  return reply.lines[0]?.code ?? reply.code;
}

/** Protocol names are BIRD symbols; anything else could smuggle a second command or a pattern. */
function symbol(name: string): string {
  if (!SYMBOL.test(name)) {
    throw new StarlingError('ERR_BIRD_ARGUMENT', `not a BIRD protocol name: ${JSON.stringify(name)}`, { fault: 'user' });
  }
  return name;
}

/** BIRD 2.0's config lexer has no escapes inside "…" strings. */
function quoted(path: string): string {
  if (/["\r\n]/.test(path)) {
    throw new StarlingError('ERR_BIRD_ARGUMENT', `BIRD cannot quote this path: ${JSON.stringify(path)}`, { fault: 'user' });
  }
  return `"${path}"`;
}
