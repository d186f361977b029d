import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import type { RequestHead, ResponseHead } from '../codec/index.js';
import { RESPONSE_DROP, type ResponseInfo } from '../core/index.js';

/**
 * HTTP/2 ⇄ the proxy's HTTP/1.1 view. An HTTP/2 request becomes the same RequestHead an HTTP/1.1
 * request would, so both go through one request path (RFC 9113 §8.3: pseudo-headers map to the
 * request line and Host; §8.2.3: split Cookie fields are joined with "; ").
 */
export type H2RequestResult = { ok: true; head: RequestHead } | { ok: false; status: number; reason: string };

const DIGITS = /^[0-9]{1,15}$/;

export function requestHeadFromH2(headers: IncomingHttpHeaders, endStream: boolean): H2RequestResult {
  const method = headers[':method'];
  const path = headers[':path'];
  const authority = headers[':authority'] ?? headers.host;
  if (method === 'CONNECT') return { ok: false, status: 501, reason: 'CONNECT is not supported' };
  if (typeof method !== 'string' || typeof path !== 'string' || path === '') {
    return { ok: false, status: 400, reason: 'missing :method or :path' };
  }
  const names: string[] = [];
  const values: string[] = [];
  let contentLength = -1;
  let host: string | undefined;
  for (const [name, value] of Object.entries(headers)) {
    if (name.charCodeAt(0) === 58 /* : */ || value === undefined) continue;
    if (name === 'cookie' && Array.isArray(value)) {
      names.push(name);
      values.push(value.join('; '));
      continue;
    }
    for (const v of Array.isArray(value) ? value : [value]) {
      if (name === 'content-length') {
        if (!DIGITS.test(v) || (contentLength >= 0 && Number(v) !== contentLength)) {
          return { ok: false, status: 400, reason: 'bad content-length' };
        }
        contentLength = Number(v);
        continue; // re-added from what was parsed
      }
      if (name === 'host') {
        host = v;
        continue; // :authority wins; Host is written once below
      }
      names.push(name);
      values.push(v);
    }
  }
  host = typeof authority === 'string' ? authority : host;
  if (host === undefined) return { ok: false, status: 400, reason: 'missing :authority' };
  names.unshift('host');
  values.unshift(host);
  // A body without a declared length is sent to the machine with chunked coding.
  const chunked = !endStream && contentLength < 0;
  return {
    ok: true,
    head: {
      method,
      target: path,
      host,
      minor: 1,
      names,
      values,
      contentLength: endStream ? -1 : contentLength,
      chunked,
      close: false,
      connectionTokens: [],
      upgrade: undefined,
    },
  };
}

export function responseHeadersToH2(resp: ResponseHead, r: ResponseInfo): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ':status': resp.status };
  const hop = resp.connectionTokens;
  const drop = r.appHeaders?.drop;
  for (let i = 0; i < resp.names.length; i++) {
    const name = resp.names[i]!;
    if (RESPONSE_DROP.has(name) || name === 'via' || (hop.length > 0 && hop.includes(name)) || (drop !== undefined && drop.has(name))) continue;
    const v = resp.values[i]!;
    const prev = out[name];
    if (prev === undefined) out[name] = v;
    else out[name] = Array.isArray(prev) ? [...prev, v] : [String(prev), v];
  }
  if (r.appHeaders) for (const [n, v] of r.appHeaders.set) out[n] = v;
  const via = resp.names.flatMap((n, i) => (n === 'via' ? [resp.values[i]!] : []));
  out.via = [...via, '2 starling'].join(', ');
  out['starling-request-id'] = r.requestId;
  if (r.flyHeaders) out['fly-request-id'] = r.requestId;
  if (r.preferredUnavailable) {
    out['starling-preferred-instance-unavailable'] = '1';
    if (r.flyHeaders) out['fly-preferred-instance-unavailable'] = '1';
  }
  if (r.framing === 'length' || (r.framing === 'none' && resp.contentLength >= 0)) {
    out['content-length'] = String(resp.contentLength);
  }
  return out;
}
