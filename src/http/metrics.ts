/**
 * What every API served by serveHttp counts: requests by method, route template and status, and
 * the time until the answer was sent (a followed stream: until it ended). The route is the template (`/v1/apps/{app}`), never the path, and
 * `unmatched` for a request no route took (a 401 without a token, a 404): a scraper's series stay
 * bounded whatever clients send.
 */
import { Counter, Histogram, type MetricFamily } from '../shared/index.js';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);

export class HttpMetrics {
  private readonly requests: Counter;
  private readonly duration: Histogram;

  /** `part` as in the naming scheme: `control`, `agent`. */
  constructor(part: string) {
    this.requests = new Counter(`starling_${part}_http_requests_total`, 'API requests answered, by method, route template and status.', ['method', 'route', 'status']);
    this.duration = new Histogram(`starling_${part}_http_request_duration_seconds`, "Time from a request's arrival until its answer was sent, by method and route template.", ['method', 'route']);
  }

  record(method: string, route: string | undefined, status: number, seconds: number): void {
    const m = METHODS.has(method) ? method : 'other';
    const r = route ?? 'unmatched';
    this.requests.inc([m, r, String(status)]);
    this.duration.observe([m, r], seconds);
  }

  /** Requests answered so far with this method, route template and status. */
  count(method: string, route: string | undefined, status: number): number {
    return this.requests.get([method, route ?? 'unmatched', String(status)]);
  }

  families(): MetricFamily[] {
    return [this.requests.family(), this.duration.family()];
  }
}
