/**
 * The app config's process groups (fly's `[processes]`): the checks across the file that the
 * `processes` lists need, and each group's command, [[vm]] and [[restart]] as the normalized config
 * holds them (app-config.ts runs both; contract/process-groups.ts has the rules that use them).
 */
import type { SchemaIssue } from '../shared/index.js';
import type { ParsedDocument } from './app-config-schema.js';
import { commandWords } from './command-words.js';
import { DEFAULT_PROCESS_GROUP } from './names.js';

/** The runtime's restart default (src/runtime/machine-manager.ts), the same from starling.toml or the Machines API. */
const DEFAULT_RETRIES = 3;

const obj = (v: unknown): Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

export interface VmConfig { cpu_kind: 'shared' | 'performance'; cpus: number; memory_mb: number }
export interface RestartConfig { policy: 'always' | 'never' | 'on-failure'; max_retries: number }

/** One process group: what its machines run and how (process-groups.ts). */
export interface ProcessGroupConfig {
  name: string;
  /** Its [processes] command's words, in place of the image's CMD; undefined: the CMD (no [processes], or ""). */
  cmd?: string[];
  /** Its [[vm]]: the entry naming it, else the one without `processes`, else the defaults. */
  vm: VmConfig;
  /** Its [[restart]], chosen the same way. */
  restart: RestartConfig;
}

/**
 * Every `processes` list names groups of [processes] (without it, the one group `app`); each group
 * gets its [[vm]] and its [[restart]] from one entry at most, and at most one entry of each is the
 * default (no `processes`).
 */
export function checkGroups(doc: Record<string, unknown>, at: (p: readonly PropertyKey[]) => string): SchemaIssue[] {
  const issues: SchemaIssue[] = [];
  const declared = Object.keys(obj(doc.processes));
  const known = declared.length > 0 ? declared : [DEFAULT_PROCESS_GROUP];
  const has = declared.length > 0 ? `[processes] has ${known.map((g) => `"${g}"`).join(', ')}` : `without [processes] the app's one group is "${DEFAULT_PROCESS_GROUP}"`;
  const names = (path: PropertyKey[], list: unknown): string[] =>
    arr(list).flatMap((g, j) => {
      if (typeof g !== 'string' || known.includes(g)) return typeof g === 'string' ? [g] : [];
      issues.push({ path: at([...path, 'processes', j]), message: `names no process group "${g}": ${has}` });
      return [];
    });
  names(['http_service'], obj(doc.http_service).processes);
  arr(doc.services).forEach((s, i) => names(['services', i], obj(s).processes));
  arr(doc.files).forEach((f, i) => names(['files', i], obj(f).processes));
  for (const section of ['vm', 'restart'] as const) {
    const owner = new Map<string, number>();
    let fallback: number | undefined;
    arr(doc[section]).forEach((e, i) => {
      const list = names([section, i], obj(e).processes);
      if (arr(obj(e).processes).length === 0) {
        if (fallback === undefined) fallback = i;
        else issues.push({ path: at([section, i]), message: `is a second [[${section}]] without processes: only one entry is the default (${at([section, fallback])}); name the groups of the others` });
      }
      list.forEach((g, j) => {
        const first = owner.get(g);
        if (first === undefined) owner.set(g, i);
        else if (first !== i) issues.push({ path: at([section, i, 'processes', j]), message: `group "${g}" already has its [[${section}]] in ${at([section, first])}` });
      });
    });
  }
  return issues;
}

/** `processes = [...]` as written; an empty list is every group, as a missing one. */
export function groupsOf(list: string[] | undefined): { processes?: string[] } {
  return list && list.length > 0 ? { processes: [...new Set(list)] } : {};
}

/**
 * Each group with its command, [[vm]] and [[restart]]: the entry naming the group, else the one
 * without `processes` (flyctl's ComputeForGroup: the most specific), else the defaults.
 */
export function processGroups(d: ParsedDocument): ProcessGroupConfig[] {
  const declared = Object.entries(d.processes ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const groups: [string, string | undefined][] = declared.length > 0 ? declared : [[DEFAULT_PROCESS_GROUP, undefined]];
  const pick = <T extends { processes?: string[] | undefined }>(entries: readonly T[], g: string): T | undefined =>
    entries.find((e) => e.processes?.includes(g)) ?? entries.find((e) => (e.processes ?? []).length === 0);
  return groups.map(([name, command]) => {
    const vm = pick(d.vm, name) ?? {};
    const restart = pick(d.restart, name);
    return {
      name,
      ...(command ? { cmd: commandWords(command) } : {}),
      vm: { cpu_kind: vm.cpu_kind ?? 'shared', cpus: vm.cpus ?? 1, memory_mb: vm.memory ?? vm.memory_mb ?? 256 },
      restart: { policy: restart?.policy ?? 'on-failure', max_retries: restart?.retries ?? DEFAULT_RETRIES },
    };
  });
}


/** The schema checked that it splits. */

/** flyctl's default group: `app` when there is one, else the first by name (what the release command and a created machine are). */
export function defaultGroupOf<G extends { name: string }>(groups: readonly G[]): G {
  return groups.find((g) => g.name === DEFAULT_PROCESS_GROUP) ?? groups[0]!;
}
