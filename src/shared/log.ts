/**
 * Structured JSON logs: one line per event, one logger per process, a child per component.
 * Fields whose name looks secret (token, password, secret, key, authorization, cookie) are
 * replaced by "[redacted]" before the line is written, so a careless call cannot leak them.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const SECRET = /(token|password|passwd|secret|private.?key|^key$|authorization|cookie)/i;

export interface LogSink {
  write(line: string): unknown;
}

export class Logger {
  constructor(
    private readonly sink: LogSink,
    private readonly min: Level = 'info',
    private readonly bound: Record<string, unknown> = {},
  ) {}

  child(fields: Record<string, unknown>): Logger {
    return new Logger(this.sink, this.min, { ...this.bound, ...fields });
  }
  enabled(level: Level): boolean {
    return ORDER[level] >= ORDER[this.min];
  }
  debug(msg: string, fields?: Record<string, unknown>): void {
    this.emit('debug', msg, fields);
  }
  info(msg: string, fields?: Record<string, unknown>): void {
    this.emit('info', msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.emit('warn', msg, fields);
  }
  error(msg: string, fields?: Record<string, unknown>): void {
    this.emit('error', msg, fields);
  }

  private emit(level: Level, msg: string, fields?: Record<string, unknown>): void {
    if (!this.enabled(level)) return;
    const line = { time: new Date().toISOString(), level, msg, ...redact(this.bound), ...redact(fields ?? {}) };
    this.sink.write(JSON.stringify(line) + '\n');
  }
}

export function redact(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) out[k] = SECRET.test(k) ? '[redacted]' : v;
  return out;
}

/** A logger that writes nothing: for libraries embedded without a logger, and for tests. */
export const silentLogger = new Logger({ write: () => true }, 'error');

export function stderrLogger(level: Level = 'info'): Logger {
  return new Logger(process.stderr, level);
}
