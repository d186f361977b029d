/** `starling regions …`: what the command table knows of them (list.ts runs them), and the region flags' parsers. */
import { isKnownRegion, regions } from '../../../shared/index.js';
import { controlFlags, jsonFlag } from '../../flags.js';
import { defineCommand, usageError } from '../../kit/index.js';

export const regionsList = defineCommand({
  noun: 'regions',
  verb: 'list',
  aliases: ['ls'],
  summary: 'the regions that have hosts: code, name, hosts, machine capacity',
  options: { ...jsonFlag(), ...controlFlags },
  load: () => import('./list.js'),
});

/**
 * A region code as a user types it on a flag: any case (`LHR` is `lhr`), checked against the catalog
 * here, at the input, so the control plane and the agent only ever see the catalog's spelling. For
 * `custom({ … }, regionCode)`; `flag` is `--region`, for the message.
 */
export function regionCode(text: string, flag: string): string {
  const code = text.trim().toLowerCase();
  if (!isKnownRegion(code)) {
    throw usageError(
      `${flag}: unknown region "${text.slice(0, 16)}"`,
      `see starling regions list for the regions with hosts; the catalog's codes are ${regions().map((r) => r.code).join(', ')}`,
    );
  }
  return code;
}

/** `--region a,B`: each code checked as regionCode does; run() gets them lower-cased, still comma-separated. */
export function regionCodes(text: string, flag: string): string {
  return text
    .split(',')
    .map((r) => r.trim())
    .filter((r) => r !== '')
    .map((r) => regionCode(r, flag))
    .join(',');
}

/** A region code that may also be one of the operator's own (a routes file's `rtt` table): lower-cased only, checked by its reader. */
export function lowerRegionCode(text: string): string {
  return text.trim().toLowerCase();
}
