/**
 * The error-code registry (src/shared/error-codes.ts) stays the truth: every ERR_ literal in src/ is
 * registered, every registered code is still used somewhere in src/, and each entry is well formed
 * (a code of the agreed shape, a meaning, an HTTP status in 400..599 when it has one).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import { test } from 'node:test';
import { ERROR_CODES, isErrorCode, statusOf, type ErrorCodeInfo } from '../../src/shared/error-codes.js';
import { repoRoot } from '../helpers/paths.js';

const SRC = join(repoRoot(), 'src');
const REGISTRY = join('shared', 'error-codes.ts');
const CODE_SHAPE = /^ERR_[A-Z0-9]+(_[A-Z0-9]+)*$/;
/** A code in quotes or backticks; a `${` right after it makes it a template (ERR_HTTP_${status}). */
const LITERAL = /['"`](ERR_[A-Z0-9_]+)(\$\{)?/g;
/** A code as the key of a map to statuses (`ERR_STORE_CONFLICT: 409,`): a use too; a mention in a comment is not. */
const MAP_KEY = /^\s*(ERR_[A-Z0-9_]+)\s*:/gm;

/** Every .ts file under src/ except the registry, by its path relative to src/. */
function sources(): Map<string, string> {
  const files = new Map<string, string>();
  for (const rel of readdirSync(SRC, { recursive: true, encoding: 'utf8' })) {
    if (rel.endsWith('.ts') && rel !== REGISTRY) files.set(rel.split(sep).join('/'), readFileSync(join(SRC, rel), 'utf8'));
  }
  return files;
}

const registered = new Set(Object.keys(ERROR_CODES));
/** Node's own codes that src/ matches errors against (node:util parseArgs): Node's, not ours to register. */
const NODE_CODES = new Set(['ERR_PARSE_ARGS_UNKNOWN_OPTION']);
const entries = Object.entries(ERROR_CODES) as [string, ErrorCodeInfo][];

test('every ERR_ literal in src/ is registered', () => {
  const missing = new Map<string, string[]>();
  const dynamic: string[] = [];
  const files = sources();
  assert.ok(files.size > 50, `expected the sources under ${SRC}, found ${files.size} files`);
  for (const [file, text] of files) {
    for (const m of text.matchAll(LITERAL)) {
      const code = m[1]!;
      if (m[2] !== undefined) {
        // The one dynamic code: the fallback for a remote answer without a code of its own.
        if (code !== 'ERR_HTTP_') dynamic.push(`${code}\${…} in ${file}`);
        continue;
      }
      if (!registered.has(code) && !NODE_CODES.has(code)) missing.set(code, [...(missing.get(code) ?? []), file]);
    }
  }
  assert.deepEqual(dynamic, [], `dynamic codes other than ERR_HTTP_\${status}:\n  ${dynamic.join('\n  ')}`);
  const list = [...missing].sort(([a], [b]) => (a < b ? -1 : 1)).map(([code, where]) => `${code} (${[...new Set(where)].join(', ')})`);
  assert.deepEqual(list, [], `${list.length} code(s) used in src/ but not in src/shared/error-codes.ts:\n  ${list.join('\n  ')}`);
});

test('every registered code is still used in src/', () => {
  const used = new Set<string>();
  for (const text of sources().values()) {
    for (const m of text.matchAll(LITERAL)) if (m[2] === undefined) used.add(m[1]!);
    for (const m of text.matchAll(MAP_KEY)) used.add(m[1]!);
  }
  const unused = [...registered].filter((code) => !used.has(code)).sort();
  assert.deepEqual(unused, [], `${unused.length} registered code(s) no longer used in src/ (remove them from the registry):\n  ${unused.join('\n  ')}`);
});

test('every entry is well formed: its code, its meaning, its part, its status', () => {
  const bad: string[] = [];
  for (const [code, info] of entries) {
    if (!CODE_SHAPE.test(code)) bad.push(`${code}: not ERR_ followed by upper-case words joined by _`);
    if (info.means.trim() === '') bad.push(`${code}: empty means`);
    if (info.part.trim() === '') bad.push(`${code}: empty part`);
    if (info.status !== undefined && !(Number.isInteger(info.status) && info.status >= 400 && info.status <= 599)) {
      bad.push(`${code}: status ${info.status} is not an HTTP error status (400..599)`);
    }
  }
  assert.deepEqual(bad, [], bad.join('\n'));
});

test('isErrorCode and statusOf', () => {
  assert.equal(isErrorCode('ERR_APP_NOT_FOUND'), true);
  assert.equal(isErrorCode('ERR_HTTP_502'), true, 'the fallback for an answer without a code');
  assert.equal(isErrorCode('ERR_HTTP_5020'), false);
  assert.equal(isErrorCode('ERR_HTTP_'), false);
  assert.equal(isErrorCode('ERR_NO_SUCH_CODE'), false);
  assert.equal(isErrorCode('toString'), false, 'nothing inherited from Object counts');
  assert.equal(statusOf('ERR_APP_NOT_FOUND'), 404);
  assert.equal(statusOf('ERR_STORE_COMPACTED'), 410);
  assert.equal(statusOf('ERR_USAGE'), undefined, 'a code no API answers has no status');
  assert.equal(statusOf('ERR_HTTP_502'), undefined);
  assert.equal(statusOf('constructor'), undefined);
});
