import type http from 'node:http';

/**
 * The body of an HTTP request as text; undefined when it is over `maxBytes` (the rest is not read,
 * so the caller answers 413 and closes). Shared by the agent's admin API and the control plane.
 */
export function readRequestBody(req: http.IncomingMessage, maxBytes: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (d: Buffer) => {
      if ((size += d.length) <= maxBytes) return void chunks.push(d);
      req.pause();
      resolve(undefined);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
    req.on('close', () => reject(new Error('closed before the end of the body'))); // no-op once resolved
  });
}
