/** Small helpers for the benchmarks: finding tools, their versions, plain-text tables, number formats. */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** A benchmark failure whose message is meant for the user as is (no stack). */
export class BenchError extends Error {}

/** The first executable `name` on PATH or in the usual sbin/bin directories. */
export function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/sbin', '/usr/local/bin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** First capture group of `pattern` in the output (stdout + stderr) of `bin flag`, or 'unknown'. */
export function versionOf(bin: string, flag: string, pattern: RegExp): string {
  const r = spawnSync(bin, [flag], { encoding: 'utf8' });
  const text = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  return pattern.exec(text)?.[1] ?? 'unknown';
}

/** Columns padded to their widest cell; `right[i]` right-aligns column i. */
export function table(header: string[], rows: string[][], right: boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (right[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export const round1 = (n: number) => Math.round(n * 10) / 10;
export const round2 = (n: number) => Math.round(n * 100) / 100;
export const round3 = (n: number) => Math.round(n * 1000) / 1000;
export const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');
export const fmtMs = (n: number) => n.toFixed(2);

/** Bytes as MiB/KiB/B, one decimal. */
export function fmtBytes(n: number): string {
  const abs = Math.abs(n);
  if (abs >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (abs >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (abs >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${Math.round(n)} B`;
}

/** The median of some numbers (the mean of the middle two for an even count); NaN for none. */
export function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  return v.length === 0 ? NaN : v.length % 2 === 1 ? (v[mid] ?? NaN) : ((v[mid - 1] ?? 0) + (v[mid] ?? 0)) / 2;
}

/**
 * How much a proxy's rounds disagree: (max − min) / median, in %, one decimal; 0 with fewer than
 * two rounds. 10% means the worst round was a tenth of a typical round below the best one.
 */
export function spreadPct(values: number[]): number {
  if (values.length < 2) return 0;
  const m = median(values);
  return m > 0 ? round1(((Math.max(...values) - Math.min(...values)) / m) * 100) : 0;
}
