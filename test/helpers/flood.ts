/**
 * Many idle TCP connections from a child process, so the test process (where the proxy runs) keeps
 * its descriptors for the proxy's side: 10,000 client sockets and 10,000 accepted ones would not fit
 * one process's limit. The child opens connections and sends nothing; it reports how many the
 * server closed (refused) and how many are still open. Loopback only.
 *
 * The same file is the child: forked with `--flood-child`, it serves the parent's messages.
 */
import { fork, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

export interface FloodTarget {
  port: number;
  count: number;
  /** Source address to bind (127.0.0.x): the proxy counts connections per address. */
  localAddress: string;
}

export interface FloodStatus {
  /** Connections the handshake completed for, in all. */
  connected: number;
  /** Connections that could not be opened (the client side's own error). */
  failed: number;
  /** Connected ones the server has closed since (refused by a cap, or timed out). */
  closedByPeer: number;
  /** Connected ones still open. */
  open: number;
}

type Request = { id: number; cmd: 'open'; target: FloodTarget } | { id: number; cmd: 'status' } | { id: number; cmd: 'close' };
type Reply = { id: number; status: FloodStatus };

/** At most this many connects in flight: the listener's backlog (511) never overflows. */
const CONCURRENCY = 200;

export class Flood {
  private nextId = 1;
  private readonly waiting = new Map<number, (s: FloodStatus) => void>();

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (m: Reply) => {
      this.waiting.get(m.id)?.(m.status);
      this.waiting.delete(m.id);
    });
  }

  static start(): Flood {
    return new Flood(fork(fileURLToPath(import.meta.url), ['--flood-child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  }

  /** Opens `count` connections from `localAddress`; resolves once every connect has settled. */
  open(target: FloodTarget): Promise<FloodStatus> {
    return this.ask({ id: this.nextId++, cmd: 'open', target });
  }

  status(): Promise<FloodStatus> {
    return this.ask({ id: this.nextId++, cmd: 'status' });
  }

  /** Closes every connection and ends the child. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.send({ id: this.nextId++, cmd: 'close' } satisfies Request);
    await exited;
  }

  private ask(req: Request): Promise<FloodStatus> {
    return new Promise((resolve, reject) => {
      this.waiting.set(req.id, resolve);
      this.child.send(req, (err) => err && reject(err));
    });
  }
}

function runChild(): void {
  const sockets = new Set<net.Socket>();
  const st: FloodStatus = { connected: 0, failed: 0, closedByPeer: 0, open: 0 };
  let closing = false;
  const connectOne = (t: FloodTarget): Promise<void> =>
    new Promise((resolve) => {
      const s = net.connect({ port: t.port, host: '127.0.0.1', localAddress: t.localAddress });
      let connected = false;
      s.on('connect', () => {
        connected = true;
        st.connected++;
        st.open++;
        sockets.add(s);
        resolve();
      });
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        if (!connected) {
          st.failed++;
          return resolve();
        }
        st.open--;
        if (!closing) st.closedByPeer++;
      });
    });
  const open = async (t: FloodTarget): Promise<void> => {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < t.count) {
        next++;
        await connectOne(t);
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, t.count) }, worker));
  };
  process.on('message', (m: Request) => {
    const reply = (): void => void process.send?.({ id: m.id, status: { ...st } } satisfies Reply);
    if (m.cmd === 'open') void open(m.target).then(reply);
    else if (m.cmd === 'status') reply();
    else {
      closing = true;
      for (const s of sockets) s.destroy();
      process.exit(0);
    }
  });
  process.on('disconnect', () => process.exit(0));
}

if (process.argv.includes('--flood-child')) runChild();
