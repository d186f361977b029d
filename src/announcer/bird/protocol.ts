import { StarlingError } from '../../shared/index.js';

/**
 * BIRD's control protocol, without I/O. Every reply line is `DDDD-text` (more lines follow),
 * `DDDD text` (the last line of the reply), ` text` (a continuation: same code as the line before)
 * or `+text` (a spontaneous printout, sent only after `echo`). This is the rule of BIRD's own client,
 * client/client.c server_got_reply(); the server side is nest/cli.c cli_printf(), which writes the
 * code only when it changes. Lines end with "\n".
 */

/** Reply codes, from BIRD's doc/reply_codes (2.0.x). 2xxx is the table heading of the 1xxx below. */
export const ReplyCode = {
  OK: 0,
  WELCOME: 1,
  READING_CONFIGURATION: 2,
  RECONFIGURED: 3,
  RECONFIGURATION_IN_PROGRESS: 4,
  RECONFIGURATION_QUEUED: 5,
  RECONFIGURATION_IGNORED_SHUTTING_DOWN: 6,
  SHUTDOWN_ORDERED: 7,
  ALREADY_DISABLED: 8,
  DISABLED: 9,
  ALREADY_ENABLED: 10,
  ENABLED: 11,
  RESTARTED: 12,
  STATUS_REPORT: 13,
  ROUTE_COUNT: 14,
  RELOADING: 15,
  ACCESS_RESTRICTED: 16,
  RECONFIGURATION_UNQUEUED: 17,
  RECONFIGURATION_CONFIRMED: 18,
  NOTHING_TO_DO: 19,
  CONFIGURATION_OK: 20,
  UNDO_REQUESTED: 21,
  UNDO_SCHEDULED: 22,
  EVALUATION: 23,
  GRACEFUL_RESTART_STATUS: 24,
  GRACEFUL_RESTART_ORDERED: 25,
  VERSION: 1000,
  INTERFACE_LIST: 1001,
  PROTOCOL_LIST: 1002,
  PROTOCOL_DETAILS: 1006,
  ROUTE_LIST: 1007,
  ROUTE_DETAILS: 1008,
  SYMBOL_LIST: 1010,
  UPTIME: 1011,
  ROUTE_ATTRIBUTES: 1012,
  BFD_SESSIONS: 1020,
  PROTOCOL_LIST_HEADING: 2002,
  REPLY_TOO_LONG: 8000,
  ROUTE_NOT_FOUND: 8001,
  CONFIGURATION_FILE_ERROR: 8002,
  NO_PROTOCOLS_MATCH: 8003,
  STOPPED_DUE_TO_RECONFIGURATION: 8004,
  PROTOCOL_DOWN: 8005,
  RELOAD_FAILED: 8006,
  ACCESS_DENIED: 8007,
  EVALUATION_RUNTIME_ERROR: 8008,
  COMMAND_TOO_LONG: 9000,
  PARSE_ERROR: 9001,
  INVALID_SYMBOL_TYPE: 9002,
} as const;

const NAMES = new Map<number, string>(
  Object.entries(ReplyCode).map(([name, code]) => [code, name.toLowerCase().replaceAll('_', ' ')]),
);

/** "configuration file error" for 8002; the class ("run-time error", …) for codes not in the table. */
export function replyCodeName(code: number): string {
  const known = NAMES.get(code);
  if (known) return known;
  if (code >= 9000) return 'parse-time error';
  if (code >= 8000) return 'run-time error';
  if (code >= 2000) return 'table heading';
  if (code >= 1000) return 'table entry';
  return 'action completed';
}

export interface ReplyLine {
  code: number;
  text: string;
}

export interface BirdReply {
  /** The code of the final line. */
  code: number;
  lines: ReplyLine[];
  /** code < 8000: 8xxx are run-time errors, 9xxx parse-time errors. */
  ok: boolean;
}

export interface ReplyParserOptions {
  /** Called with each `+` line (spontaneous printouts), which belong to no reply. */
  onAsync?: (text: string) => void;
  /** A line longer than this is a protocol error (BIRD's own lines stay far below it). */
  maxLineBytes?: number;
}

const NEWLINE = 0x0a;

/**
 * Turns the bytes of a control connection into replies. Splits on "\n" as bytes, so a chunk boundary
 * inside a multi-byte UTF-8 character is harmless. Malformed input throws ERR_BIRD_PROTOCOL; the
 * connection cannot be trusted afterwards.
 */
export class ReplyParser {
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private lines: ReplyLine[] = [];
  private readonly maxLineBytes: number;

  constructor(private readonly opts: ReplyParserOptions = {}) {
    this.maxLineBytes = opts.maxLineBytes ?? 1 << 20;
  }

  /** True while a reply or a line has begun but not ended. */
  get pending(): boolean {
    return this.partialBytes > 0 || this.lines.length > 0;
  }

  push(chunk: Buffer | string): BirdReply[] {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    const out: BirdReply[] = [];
    let start = 0;
    for (let nl = buf.indexOf(NEWLINE, start); nl !== -1; nl = buf.indexOf(NEWLINE, start)) {
      const piece = buf.subarray(start, nl);
      start = nl + 1;
      const line = this.partialBytes === 0 ? piece : Buffer.concat([...this.partial, piece]);
      this.partial = [];
      this.partialBytes = 0;
      this.checkLength(line.length);
      const reply = this.line(line.toString('utf8'));
      if (reply) out.push(reply);
    }
    if (start < buf.length) {
      const rest = buf.subarray(start);
      this.checkLength(this.partialBytes + rest.length);
      // Copy: the caller may reuse its buffer.
      this.partial.push(Buffer.from(rest));
      this.partialBytes += rest.length;
    }
    return out;
  }

  private checkLength(n: number): void {
    if (n > this.maxLineBytes) {
      throw new StarlingError('ERR_BIRD_PROTOCOL', `BIRD sent a line longer than ${this.maxLineBytes} bytes`);
    }
  }

  private line(raw: string): BirdReply | undefined {
    const s = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (s.startsWith('+')) {
      this.opts.onAsync?.(s.slice(1));
      return undefined;
    }
    if (s.startsWith(' ')) {
      const prev = this.lines.at(-1);
      if (!prev) throw malformed(s, 'a continuation line opens a reply');
      this.lines.push({ code: prev.code, text: s.slice(1) });
      return undefined;
    }
    const m = /^(\d{4})([ -])(.*)$/s.exec(s);
    if (!m) throw malformed(s, 'not a reply line');
    const code = Number(m[1]);
    this.lines.push({ code, text: m[3] ?? '' });
    if (m[2] === '-') return undefined;
    const lines = this.lines;
    this.lines = [];
    return { code, lines, ok: code < 8000 };
  }
}

function malformed(line: string, why: string): StarlingError {
  const shown = line.length > 80 ? `${line.slice(0, 80)}…` : line;
  return new StarlingError('ERR_BIRD_PROTOCOL', `BIRD sent a malformed line (${why}): ${JSON.stringify(shown)}`);
}

/** Parses a whole byte string (a fixture, a test) that holds complete replies only. */
export function parseReplies(bytes: Buffer | string): BirdReply[] {
  const parser = new ReplyParser();
  const replies = parser.push(bytes);
  if (parser.pending) throw new StarlingError('ERR_BIRD_PROTOCOL', 'BIRD reply ends in the middle');
  return replies;
}
