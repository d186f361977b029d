/**
 * The CLI's pins of control-plane certificates, as ssh's known_hosts: the first time it meets a
 * control plane whose certificate no CA vouches for (the self-signed one `starling control run`
 * makes), it pins that certificate's fingerprint for the URL's origin and says so on stderr; from
 * then on only that certificate is accepted there, and any other is refused with both
 * fingerprints shown. Pins live in `~/.config/starling/known_controls.json` (0600), one per origin;
 * `--fingerprint` (or STARLING_CONTROL_FINGERPRINT, or `control_fingerprint` in config.toml) pins
 * explicitly and skips this file. To accept a control plane's new certificate, delete its line.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { StarlingError, formatFingerprint, normalizeFingerprint, type TlsTrust } from '../shared/index.js';

export function knownControlsPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.HOME ?? homedir(), '.config', 'starling', 'known_controls.json');
}

function readPins(path: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new StarlingError('ERR_CONTROL_PINS', `cannot read ${path}: ${(e as Error).message}`, { fault: 'user' });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    doc = undefined;
  }
  const ok = typeof doc === 'object' && doc !== null && !Array.isArray(doc) && Object.values(doc).every((v) => typeof v === 'string' && normalizeFingerprint(v));
  if (!ok) throw new StarlingError('ERR_CONTROL_PINS', `${path} is damaged: it must be a JSON object of origin → fingerprint`, { fault: 'user', hint: `fix or delete ${path} (its pins are then taken again on first use)` });
  return doc as Record<string, string>;
}

/** The trust for `url`: its pin when there is one, else pin whatever self-signed certificate it shows first. */
export function trustOnFirstUse(url: string, env: NodeJS.ProcessEnv = process.env): TlsTrust {
  const path = knownControlsPath(env);
  const origin = new URL(url).origin;
  const pinned = readPins(path)[origin];
  if (pinned) return { fingerprint: normalizeFingerprint(pinned) };
  return {
    onUnknown: (fingerprint) => {
      const pins = readPins(path);
      pins[origin] = fingerprint;
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      const tmp = `${path}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify(pins, null, 2) + '\n', { mode: 0o600 });
      renameSync(tmp, path);
      process.stderr.write(
        `starling: trusting the control plane at ${origin} on first use: its certificate is sha256 ${formatFingerprint(fingerprint)}\n` +
          `starling: pinned in ${path}; check it against the fingerprint the control plane logged at start\n`,
      );
      return true;
    },
  };
}
