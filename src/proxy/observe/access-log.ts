/**
 * One JSON line per request. The query string is left out of `path`: tokens travel in query strings
 * more often than anyone would like, and secrets never go to logs.
 */
export interface AccessEntry {
  time: string;
  request_id: string;
  client: string;
  method: string;
  host: string;
  path: string;
  status: number;
  app: string | undefined;
  machine: string | undefined;
  region: string | undefined;
  duration_ms: number;
  bytes_out: number;
  retries: number;
  replays: number;
  error?: string | undefined;
}

export interface AccessLogSink {
  write(line: string): unknown;
}

export class AccessLog {
  constructor(private readonly sink: AccessLogSink) {}

  log(e: AccessEntry): void {
    this.sink.write(JSON.stringify(e) + '\n');
  }
}

export function stripQuery(target: string): string {
  const q = target.indexOf('?');
  return q < 0 ? target : target.slice(0, q);
}
