/**
 * Typed command-line options. Each builder returns an Option<T>: what help, the README check and
 * completion need to know about the flag, and `parse`, which turns what node:util parseArgs read
 * into the T that a command's run() receives (`--workers 4` → 4, absent `--json` → false). A bad
 * value is a usage error (exit 2) that names the flag, says what it takes and what it got.
 */
// HOST:PORT is the contract's rule, kept in shared: the contract's index loads the app config
// schema (zod), and help, which loads this file, must stay light (test/integration/cli-lazy.test.ts).
import { StarlingError, closest, parseHostPort as parseAddress } from '../../shared/index.js';

/** What node:util parseArgs hands over for one flag. */
export type RawValue = string | boolean | string[] | undefined;

export interface Option<T> {
  /** How parseArgs reads it: a flag alone, or a flag with a value. */
  readonly type: 'string' | 'boolean';
  /** May be given several times; parseArgs collects a string[]. */
  readonly multiple?: boolean;
  /** Help shows it as `--name VALUE`. */
  readonly value?: string | undefined;
  /** One letter that also names it (`a` for `-a`, as flyctl has it): help shows `-a, --app APP`. */
  readonly short?: string | undefined;
  readonly description: string;
  /** The default as a user would type it, for help and the README. */
  readonly default?: string | undefined;
  /** Missing (or empty) is a usage error; `message` and `hint` replace the generic ones. */
  readonly required?: { message?: string; hint?: string } | undefined;
  /** The values it takes, when they are few: help shows them, completion offers them. */
  readonly choices?: readonly string[];
  /** The value, checked and converted; `flag` is `--name`, for messages. */
  readonly parse: (raw: RawValue, flag: string) => T;
  /**
   * The value when the flag was not given, worked out only when the command runs (after every flag
   * parsed, before its module loads): `--app` from the app config in the current directory. It may
   * read files or import modules; help and completion never call it. `values` holds the other
   * options' parsed values, `options` the command's declarations.
   */
  readonly fallback?: ((values: Readonly<Record<string, unknown>>, options: Options) => Promise<T>) | undefined;
}

export type AnyOption = Option<unknown>;
export type Options = Readonly<Record<string, AnyOption>>;

/** The object run() receives for these options. */
export type OptionValues<O extends Options> = { readonly [K in keyof O]: O[K] extends Option<infer T> ? T : never };

interface Common {
  value?: string;
  /** `a`: `-a` is this flag too. */
  short?: string;
  description: string;
}
type Required = { required: true | { message?: string; hint?: string } };
/** T, or T | undefined when the option may be left out (no default, not required). */
type Maybe<S, T> = S extends { default: unknown } | Required ? T : T | undefined;

export function usageError(message: string, hint?: string): StarlingError {
  return new StarlingError('ERR_USAGE', message, { fault: 'user', hint });
}

function badValue(flag: string, expect: string, got: string): StarlingError {
  return usageError(`${flag} must be ${expect}, got "${got.slice(0, 200)}"`);
}

function requiredOf(s: Partial<Required>): Option<unknown>['required'] {
  return s.required === undefined ? undefined : s.required === true ? {} : s.required;
}

/** The one string value (the last one when a flag that is not repeatable was given twice). */
function text(raw: RawValue): string | undefined {
  return Array.isArray(raw) ? raw.at(-1) : typeof raw === 'string' ? raw : undefined;
}

/** `--name VALUE`: any text. */
export function string<const S extends Common & { default?: string } & Partial<Required>>(s: S): Option<Maybe<S, string>> {
  return custom(s, (t) => t);
}

/** `--name`: true when given, else false. */
export function boolean(s: { description: string; short?: string }): Option<boolean> {
  return { type: 'boolean', short: s.short, description: s.description, parse: (raw) => raw === true };
}

/** `--name VALUE`, repeatable (`--env A=1 --env B=2`): every value, in order ([] when not given). */
export function list(s: Common): Option<string[]> {
  return {
    type: 'string',
    multiple: true,
    value: s.value,
    short: s.short,
    description: s.description,
    parse: (raw) => (Array.isArray(raw) ? raw.map(String) : typeof raw === 'string' ? [raw] : []),
  };
}

interface NumberSpec extends Common {
  default?: number;
  /** A whole number, in digits only (no sign, no exponent). */
  integer?: boolean;
  min?: number;
  max?: number;
  /** Greater than 0 (a fraction is fine unless `integer`). */
  positive?: boolean;
  /** The error's words after "must be" (`a number of lines from 1 to 999999`). */
  expect?: string;
}

function numberExpect(s: NumberSpec): string {
  if (s.expect !== undefined) return s.expect;
  const what = s.integer ? 'a whole number' : s.positive ? 'a positive number' : 'a number';
  if (s.min !== undefined && s.max !== undefined) return `${what} from ${s.min} to ${s.max}`;
  if (s.min !== undefined) return `${what} of at least ${s.min}`;
  if (s.max !== undefined) return `${what} of at most ${s.max}`;
  return what;
}

/** `--name N`: a number, checked against its range. */
export function number<const S extends NumberSpec & Partial<Required>>(s: S): Option<Maybe<S, number>> {
  const expect = numberExpect(s);
  return {
    type: 'string',
    value: s.value ?? 'N',
    short: s.short,
    description: s.description,
    default: s.default === undefined ? undefined : String(s.default),
    required: requiredOf(s),
    parse: (raw, flag) => {
      const t = text(raw);
      if (t === undefined) return s.default as Maybe<S, number>;
      const n = s.integer ? (/^\d+$/.test(t) ? Number(t) : NaN) : t.trim() === '' ? NaN : Number(t);
      const ok = Number.isFinite(n) && (!s.integer || Number.isSafeInteger(n)) && !(s.positive && n <= 0) && !(s.min !== undefined && n < s.min) && !(s.max !== undefined && n > s.max);
      if (!ok) throw badValue(flag, expect, t);
      return n;
    },
  };
}

/** `a, b or c` */
export function orList(values: readonly string[]): string {
  return values.length <= 1 ? (values[0] ?? '') : `${values.slice(0, -1).join(', ')} or ${values.at(-1)!}`;
}

/** `--name V` where V is one of a few words; run() gets the union of them. */
export function oneOf<const V extends readonly [string, ...string[]], const S extends Common & { default?: V[number] } & Partial<Required>>(
  values: V,
  s: S,
): Option<Maybe<S, V[number]>> {
  return {
    type: 'string',
    value: s.value ?? values.join('|'),
    short: s.short,
    description: s.description,
    default: s.default,
    required: requiredOf(s),
    choices: values,
    parse: (raw, flag) => {
      const t = text(raw) ?? s.default;
      if (t === undefined) return undefined as Maybe<S, V[number]>;
      if (!(values as readonly string[]).includes(t)) {
        const near = closest(t, values);
        throw usageError(`${flag} must be ${orList(values)}, got "${t.slice(0, 200)}"${near === undefined ? '' : `: did you mean ${near}?`}`);
      }
      return t;
    },
  };
}

const UNIT_MS: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 };

/** `30d`, `1d12h`, `90m`, `3600s` → milliseconds; undefined when it is not such a duration. */
export function parseDurationMs(t: string): number | undefined {
  const parts = [...t.matchAll(/(\d+)([dhms])/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== t) return undefined;
  return parts.reduce((sum, p) => sum + Number(p[1]) * UNIT_MS[p[2]!]!, 0);
}

/** `--name DURATION`: days, hours, minutes and seconds (`30d`, `12h`, `1d12h`); run() gets milliseconds. */
export function duration<const S extends Common & { default?: string } & Partial<Required>>(s: S): Option<Maybe<S, number>> {
  return {
    type: 'string',
    value: s.value ?? 'DURATION',
    short: s.short,
    description: s.description,
    default: s.default,
    required: requiredOf(s),
    parse: (raw, flag) => {
      const t = text(raw) ?? s.default;
      if (t === undefined) return undefined as Maybe<S, number>;
      const ms = parseDurationMs(t);
      if (ms === undefined) throw badValue(flag, 'a duration such as 30d, 12h, 90m or 1d12h', t);
      return ms;
    },
  };
}

/** `--name VALUE` read by a parser of the command's own (which throws a usage error naming `flag`). */
export function custom<T, const S extends Common & { default?: string } & Partial<Required>>(
  s: S,
  parse: (text: string, flag: string) => T,
): Option<Maybe<S, T>> {
  return {
    type: 'string',
    value: s.value,
    short: s.short,
    description: s.description,
    default: s.default,
    required: requiredOf(s),
    parse: (raw, flag) => {
      const t = text(raw) ?? s.default;
      return (t === undefined ? undefined : parse(t, flag)) as Maybe<S, T>;
    },
  };
}

/**
 * `HOST:PORT` (IPv6 as `[::1]:8080`) → parts, by the platform's one rule (src/contract). Port 0
 * is allowed: every HOST:PORT flag says where to listen, and 0 is any free port (tests use it).
 * `flag` names the flag in errors.
 */
export function parseHostPort(value: string, flag: string): { host: string; port: number } {
  const hp = parseAddress(value, { portZero: true });
  if (!hp) throw usageError(`${flag} must be HOST:PORT, e.g. 127.0.0.1:8080 (an IPv4 address, a hostname or [IPv6]; port 0 for any free one), got "${value}"`);
  return hp;
}

/** `--name HOST:PORT`: where to listen or connect; run() gets `{ host, port }`. */
export function hostPort<const S extends { description: string; short?: string; default?: string } & Partial<Required>>(s: S) {
  return custom({ value: 'HOST:PORT', ...s }, parseHostPort);
}
