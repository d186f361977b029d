import type { AppRoute, MachineRoute } from '../route-table/index.js';
import type { ProxyConfig } from './context.js';
import { End } from './lifecycle.js';

/**
 * The words and numbers of each way an exchange ends without a whole response (lifecycle.ts End):
 * the status, the text (the answer's body, or the access log's error when the client is cut), the
 * extra headers, and what is counted. decide chose the end; this only renders it.
 */
export interface Answer {
  readonly status: number;
  readonly text: string;
  readonly extra: readonly (readonly [string, string])[];
  /** Cut over plain TCP with RST, not FIN (a body the close would delimit must not look whole). */
  readonly reset: boolean;
}

/** What the words are made of, read from the exchange. */
export interface EndFacts {
  readonly app: AppRoute;
  readonly machine: MachineRoute | undefined;
  readonly requestId: string;
  readonly lastFailure: string | undefined;
  /** A trusted peer sent the request (peer.ts). */
  readonly fromPeer: boolean;
  readonly bodyError: string | undefined;
  /** The machine's response status, once its head came. */
  readonly responseStatus: number | undefined;
  readonly bytesOut: number;
  readonly responseIdleMs: number;
  readonly tunnelIdleMs: number | undefined;
}

const NONE: readonly (readonly [string, string])[] = [];

/** Counts the end in the metrics (and logs a machine stall) and returns its answer. */
export function settle(end: End, why: string, f: EndFacts, config: ProxyConfig): Answer {
  const { metrics, limits } = config;
  const machine = f.machine?.id ?? '?';
  switch (end) {
    case End.Unavailable: {
      // A peer's request this host cannot serve after all (its view was fresher than the sender's):
      // ask the sending proxy to replay it to another machine, as a machine would (elsewhere=true).
      const extra = f.fromPeer ? RETRY_ELSEWHERE : RETRY_LATER;
      return answer(503, `no machine available for app "${f.app.name}": ${why}\n`, extra);
    }
    case End.RetryFailed:
      // A retry with nowhere to go: the client gets the machine's failure (502), not "no capacity".
      return answer(502, `${f.lastFailure}; no other machine: ${why}\n`);
    case End.ReplayFailed:
      metrics.replayFailed(f.app.name, why.split(' ')[0]!);
      return answer(502, `replay failed: ${why}\n`, [
        ['starling-replay-failed', why],
        ...(limits.flyHeaders ? ([['fly-replay-failed', why]] as const) : []),
      ]);
    case End.MachineFailed:
      return answer(502, `${f.lastFailure}\n`);
    case End.BadResponse:
      metrics.rejectedRequest('bad_upstream_response');
      return answer(502, `machine ${machine} sent a broken response (${why})\n`);
    case End.ResponseTimeout:
      return answer(504, `machine ${machine} did not answer in time\n`);
    case End.BodyTimeout:
      metrics.rejectedRequest('body_timeout');
      return answer(408, 'request body timed out\n');
    case End.BadBody:
      metrics.rejectedRequest(f.bodyError ?? 'bad_chunk');
      return answer(400, `bad request body: ${f.bodyError ?? 'invalid chunked framing'}\n`);
    case End.ClientGone:
      return answer(499, 'client closed the connection');
    case End.TunnelClosed:
      return answer(101, '');
    case End.ClientStalled:
    case End.TunnelStalled:
      metrics.rejectedRequest('client_stalled');
      return answer(end === End.TunnelStalled ? 101 : 499, 'client stopped reading');
    case End.MachineStalled: {
      metrics.responseIdleTimeout(f.app.name);
      config.logger.warn('machine stopped sending the response body: response cut off', {
        app: f.app.name,
        machine: f.machine?.id,
        request_id: f.requestId,
        status: f.responseStatus,
        bytes_out: f.bytesOut,
        response_idle_timeout_ms: f.responseIdleMs,
      });
      const text = `machine sent no response body bytes for ${f.responseIdleMs} ms`;
      return { status: f.responseStatus ?? 502, text, extra: NONE, reset: true };
    }
    case End.TunnelIdle:
      return answer(101, `upgraded connection idle for ${f.tunnelIdleMs} ms (the app's idle_timeout)`);
    case End.Truncated:
      return answer(f.responseStatus ?? 502, why);
  }
}

/** The decision's words before the event's: `upstream_error` + `ECONNRESET`. */
export function joinWhy(own: string | undefined, event: string | undefined): string {
  if (own === undefined) return event ?? '';
  return event === undefined ? own : `${own} ${event}`;
}

function answer(status: number, text: string, extra = NONE): Answer {
  return { status, text, extra, reset: false };
}

const RETRY_LATER = [['retry-after', '1']] as const;
const RETRY_ELSEWHERE = [['retry-after', '1'], ['starling-replay', 'elsewhere=true']] as const;
