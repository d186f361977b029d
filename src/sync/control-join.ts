/**
 * This host's identity towards the control plane. The first start trades the one-time join token
 * (`starling hosts add NAME --region R` printed it; the operator put it in `[control]
 * join_token_file`) for a credential of the host's own, and keeps that in `credential_file` (0600)
 * with the platform's peer key, the pinned certificate fingerprint and the secret this agent
 * chose for the control plane's calls to its admin API. Every later start reads that file; the
 * join token is deleted once used. Nothing of it is ever logged.
 */
import type { ErrorCode } from '../shared/index.js';
import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { StarlingError, describeError, fromZod, trustingFetch, type Clock, type Logger } from '../shared/index.js';
import { HttpError, callJson } from '../http/index.js';
import type { ControlSection } from './types.js';

export interface HostIdentity {
  host: string;
  region: string;
  /** `sh1_…`: the bearer token of every call to the control plane. */
  credential: string;
  /** Marks requests between this platform's proxies (null: the control plane has none). */
  peer_key: string | null;
  /** The control plane's certificate fingerprint pinned at join (from the join token), if any. */
  fingerprint: string | null;
  /** What the control plane presents to this agent's admin API to read machine logs. */
  agent_secret: string;
}

const IdentityFile = z.strictObject({
  host: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/),
  region: z.string().regex(/^[a-z]{3}$/),
  credential: z.string().regex(/^sh1_[a-z0-9-]+_[0-9a-f]{64}$/),
  peer_key: z.string().regex(/^[0-9a-f]{64}$/).nullable(),
  fingerprint: z.string().regex(/^[0-9a-f]{64}$/).nullable(),
  agent_secret: z.string().regex(/^[0-9a-f]{64}$/),
});

const JoinAnswer = z.object({ host: z.string(), region: z.string(), credential: z.string(), peer_key: z.string().nullable() });

/** The fingerprint a join token carries (`sj1_<id>_<secret>_<fingerprint>`), if it carries one. */
export function joinTokenFingerprint(token: string): string | undefined {
  return /^sj1_[0-9a-f]{12}_[0-9a-f]{64}_([0-9a-f]{64})$/.exec(token)?.[1];
}

function fail(code: ErrorCode, message: string, hint?: string, cause?: unknown): StarlingError {
  return new StarlingError(code, message, { fault: 'user', hint, cause });
}

/** Reads the credential file, or joins with the join token and writes it. */
export async function hostIdentity(c: ControlSection, region: string, clock: Clock, logger: Logger): Promise<HostIdentity> {
  const id = (await readIdentity(c.credential_file)) ?? (await join(c, clock, logger));
  if (id.region !== region) {
    throw fail('ERR_AGENT_REGION', `this host joined the control plane in region ${id.region}, but agent.region is ${region}`, `set agent.region = "${id.region}", or remove the host (starling hosts remove ${id.host}) and add it again in ${region}`);
  }
  if (c.host_id !== undefined && c.host_id !== id.host) {
    throw fail('ERR_AGENT_HOST_ID', `this host joined the control plane as ${id.host}, but [control] host_id is ${c.host_id}`, `remove host_id from agent.toml, or set it to "${id.host}"`);
  }
  return id;
}

/** Keeps a new peer key the control plane handed out at registration, for the next start. */
export async function savePeerKey(file: string, id: HostIdentity, peerKey: string): Promise<void> {
  if (id.peer_key === peerKey || !/^[0-9a-f]{64}$/.test(peerKey)) return;
  id.peer_key = peerKey;
  await writeIdentity(file, id);
}

async function readIdentity(file: string): Promise<HostIdentity | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fail('ERR_AGENT_CREDENTIAL', `cannot read [control] credential_file ${file}: ${describeError(e)}`, undefined, e);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    doc = undefined;
  }
  const parsed = IdentityFile.safeParse(doc);
  if (!parsed.success) {
    const where = doc === undefined ? 'is not JSON' : fromZod(parsed.error).map((i) => `${i.path}: ${i.message}`).join('; ');
    throw fail('ERR_AGENT_CREDENTIAL', `[control] credential_file ${file} is damaged: ${where}`, 'remove it, add the host again (starling hosts add) and put the new join token in join_token_file');
  }
  return parsed.data;
}

async function join(c: ControlSection, clock: Clock, logger: Logger): Promise<HostIdentity> {
  let token: string;
  try {
    token = (await readFile(c.join_token_file, 'utf8')).trim();
  } catch (e) {
    throw fail(
      'ERR_AGENT_NOT_JOINED',
      `this host has not joined the control plane: there is no credential (${c.credential_file}) and no join token (${c.join_token_file}: ${describeError(e)})`,
      'on the control plane run `starling hosts add NAME --region REGION`, and write the join token it prints to join_token_file (mode 0600)',
      e,
    );
  }
  if (!/^sj1_/.test(token)) throw fail('ERR_AGENT_JOIN', `[control] join_token_file ${c.join_token_file} does not hold a join token (sj1_…)`, 'copy the whole token starling hosts add printed');
  const pinned = c.fingerprint ?? joinTokenFingerprint(token);
  const doFetch = trustingFetch({ fingerprint: pinned });
  let body: unknown;
  try {
    body = (await callJson({ method: 'POST', url: `${c.url.replace(/\/+$/, '')}/v1/hosts/join`, token, clock, timeoutMs: 30_000, fetch: doFetch, maxBytes: 64 << 10 })).body;
  } catch (e) {
    if (e instanceof HttpError) {
      throw fail('ERR_AGENT_JOIN', `the control plane at ${c.url} refused the join token: ${e.message}`, 'a join token works once and expires (1 h by default): run starling hosts add again for a new one', e);
    }
    throw new StarlingError('ERR_AGENT_JOIN', `cannot join the control plane at ${c.url}: ${describeError(e)}`, { cause: e, hint: 'is the control plane running and is [control] url right?' });
  }
  const parsed = JoinAnswer.safeParse(body);
  if (!parsed.success) throw new StarlingError('ERR_AGENT_JOIN', `the control plane at ${c.url} answered the join with something else than a host credential`, { hint: 'is [control] url a Starling control plane of the same version?' });
  const answer = parsed.data;
  const id: HostIdentity = {
    host: answer.host,
    region: answer.region,
    credential: answer.credential,
    peer_key: answer.peer_key,
    fingerprint: pinned ?? null,
    agent_secret: randomBytes(32).toString('hex'),
  };
  await writeIdentity(c.credential_file, id);
  await rm(c.join_token_file, { force: true }).catch(() => undefined);
  logger.info('joined the control plane', { host: id.host, region: id.region, url: c.url, credential_file: c.credential_file });
  return id;
}

async function writeIdentity(file: string, id: HostIdentity): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(id, null, 2) + '\n', { mode: 0o600 });
  await rename(tmp, file);
}
