/**
 * Hosts joining a control plane in tests, the way an operator does it: `POST /v1/hosts` with the
 * operator's token gives a one-time join token, which an agent (or the test) trades for the host's
 * credential at `POST /v1/hosts/join`.
 */
import { writeFileSync } from 'node:fs';

/** A random 64-hex agent secret, for registrations made by hand in tests. */
export const AGENT_SECRET = 'a1'.repeat(32);

export async function addHost(base: string, operatorToken: string, id: string, region: string, doFetch: typeof fetch = fetch): Promise<string> {
  const res = await doFetch(`${base}/v1/hosts`, {
    method: 'POST',
    headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id, region }),
  });
  const body = (await res.json()) as { join_token?: string; error?: { message: string } };
  if (res.status !== 201 || !body.join_token) throw new Error(`hosts add ${id}: ${res.status} ${body.error?.message ?? ''}`);
  return body.join_token;
}

/** Adds `id` and writes its join token to `file` (0600), for an agent's [control] join_token_file. */
export async function writeJoinToken(base: string, operatorToken: string, id: string, region: string, file: string, doFetch: typeof fetch = fetch): Promise<void> {
  writeFileSync(file, (await addHost(base, operatorToken, id, region, doFetch)) + '\n', { mode: 0o600 });
}

/** Adds and joins `id`: its host credential. */
export async function joinHost(base: string, operatorToken: string, id: string, region: string, doFetch: typeof fetch = fetch): Promise<string> {
  const token = await addHost(base, operatorToken, id, region, doFetch);
  const res = await doFetch(`${base}/v1/hosts/join`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  const body = (await res.json()) as { credential?: string; error?: { message: string } };
  if (res.status !== 200 || !body.credential) throw new Error(`join ${id}: ${res.status} ${body.error?.message ?? ''}`);
  return body.credential;
}
