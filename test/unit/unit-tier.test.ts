/**
 * The unit tier stays socket-free and process-free (STYLE.md, "Tests"): no test file under
 * test/unit, as built (dist/test/unit, so type-only imports are gone), imports a module that opens
 * sockets or starts processes, neither itself nor through the test code it imports (helpers,
 * conformance suites: followed). A test that needs a socket, a port or a child process belongs in
 * test/integration.
 *
 * Legitimate: the pure functions of those modules, imported by name (`isIP`, `createSecureContext`,
 * `STATUS_CODES`, …); a default or namespace import (`import net from 'node:net'`) is not, since it
 * reaches everything. src/ is not followed: a src module may hold pure logic beside its I/O (the
 * health monitor beside its HTTP probe), and a unit test may use the one without the other.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

/** Modules that open sockets or start processes → the names of theirs that do neither. */
const IO_MODULES: Record<string, readonly string[]> = {
  net: ['isIP', 'isIPv4', 'isIPv6', 'BlockList', 'SocketAddress'],
  tls: ['createSecureContext', 'rootCertificates', 'getCiphers', 'checkServerIdentity', 'DEFAULT_CIPHERS', 'DEFAULT_ECDH_CURVE', 'DEFAULT_MIN_VERSION', 'DEFAULT_MAX_VERSION'],
  http: ['STATUS_CODES', 'METHODS', 'validateHeaderName', 'validateHeaderValue'],
  https: [],
  http2: ['constants', 'getDefaultSettings', 'getPackedSettings', 'getUnpackedSettings', 'sensitiveHeaders'],
  dgram: [],
  dns: [],
  'dns/promises': [],
  child_process: [],
  cluster: [],
  inspector: [],
};

export interface Violation {
  specifier: string;
  /** What was imported: names, `default`, `* as x`, or `(side effect)` / `import()` / `require()`. */
  imported: string;
}

/** The socket or process imports of one ES module's source (tsc output: one statement per import). */
export function ioImports(source: string): Violation[] {
  const out: Violation[] = [];
  const check = (specifier: string, names: string[] | 'all', imported: string): void => {
    const mod = specifier.replace(/^node:/, '');
    const allowed = IO_MODULES[mod];
    if (allowed === undefined) return;
    if (names === 'all' || names.some((n) => !allowed.includes(n))) out.push({ specifier, imported });
  };
  // An import clause holds no quote and no semicolon: the match cannot run on into the next statement.
  const stmt = /(?:^|[\n;])\s*(import|export)\s+([^'";]*?)\s*from\s*['"]([^'"]+)['"]/g;
  for (const m of source.matchAll(stmt)) {
    const clause = m[2]!.trim();
    const braces = /\{([\s\S]*)\}/.exec(clause);
    const outside = clause.replace(/\{[\s\S]*\}/, '').replace(/,/g, ' ').trim();
    if (m[1] === 'export' && !braces) check(m[3]!, 'all', clause); // export * from …
    else if (outside !== '') check(m[3]!, 'all', outside); // default or namespace import
    if (braces) {
      const names = braces[1]!.split(',').map((n) => n.trim().split(/\s+as\s+/)[0]!.trim()).filter((n) => n !== '');
      check(m[3]!, names, `{ ${names.join(', ')} }`);
    }
  }
  for (const m of source.matchAll(/(?:^|[\n;])\s*import\s*['"]([^'"]+)['"]/g)) check(m[1]!, 'all', '(side effect)');
  for (const m of source.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) check(m[1]!, 'all', 'import()');
  for (const m of source.matchAll(/\brequire\(\s*['"]([^'"]+)['"]\s*\)/g)) check(m[1]!, 'all', 'require()');
  return out;
}

/** Relative imports of a module's source (static, re-exports and literal dynamic ones). */
function relativeImports(source: string): string[] {
  const specs = [
    ...[...source.matchAll(/\bfrom\s*['"](\.[^'"]+)['"]/g)].map((m) => m[1]!),
    ...[...source.matchAll(/(?:^|[\n;])\s*import\s*['"](\.[^'"]+)['"]/g)].map((m) => m[1]!),
    ...[...source.matchAll(/\bimport\(\s*['"](\.[^'"]+)['"]\s*\)/g)].map((m) => m[1]!),
  ];
  return [...new Set(specs)];
}

const UNIT = dirname(fileURLToPath(import.meta.url)); // dist/test/unit
const DIST_TEST = dirname(UNIT);

describe('ioImports (the check itself)', () => {
  it('finds default, namespace, named, side-effect, dynamic and required imports of socket and process modules', () => {
    const src = [
      "import net from 'node:net';",
      "import * as cp from 'child_process';",
      "import { spawn } from 'node:child_process';",
      "import http, { STATUS_CODES } from 'node:http';",
      "import 'node:dgram';",
      "const tls = await IMPORT('node:tls');",
      "const dns = REQUIRE('dns');",
      "export * from 'node:https';",
      "import { connect as c } from 'node:net';",
    ]
      .join('\n')
      // Spelt out at run time, so that this file's own source holds no dynamic import for the tier check to find.
      .replace('IMPORT(', 'import(')
      .replace('REQUIRE(', 'require(');
    assert.deepEqual(
      ioImports(src).map((v) => `${v.specifier} ${v.imported}`),
      ['node:net net', 'child_process * as cp', 'node:child_process { spawn }', 'node:http http', 'node:https *', 'node:net { connect }', 'node:dgram (side effect)', 'node:tls import()', 'dns require()'],
    );
  });

  it('lets through pure functions imported by name, and modules that do no I/O of this kind', () => {
    const src = [
      "import { isIP, BlockList } from 'node:net';",
      "import { createSecureContext } from 'node:tls';",
      "import { STATUS_CODES } from 'node:http';",
      "import { readFileSync } from 'node:fs';",
      "import assert from 'node:assert/strict';",
      "import { netmask } from './net.js';",
    ].join('\n');
    assert.deepEqual(ioImports(src), []);
  });
});

describe('the unit tier', () => {
  it('imports nothing that opens a socket or starts a process (test/unit and the test code it pulls in)', () => {
    assert.ok(existsSync(UNIT), `${UNIT} is where the built unit tests are`);
    const roots = readdirSync(UNIT).filter((f) => f.endsWith('.test.js')).map((f) => join(UNIT, f));
    assert.ok(roots.length >= 20, `found ${roots.length} built unit test files in ${UNIT}`);
    const seen = new Set<string>();
    const found: string[] = [];
    const visit = (file: string, via: string[]): void => {
      if (seen.has(file)) return;
      seen.add(file);
      const source = readFileSync(file, 'utf8');
      const chain = [...via, relative(DIST_TEST, file)].join(' → ');
      for (const v of ioImports(source)) found.push(`${chain}: ${v.imported} from '${v.specifier}'`);
      for (const spec of relativeImports(source)) {
        const target = resolve(dirname(file), spec);
        // Test code (helpers, conformance suites) is followed; src/ is not (see the top).
        if (target.startsWith(DIST_TEST + '/') && existsSync(target)) visit(target, [...via, relative(DIST_TEST, file)]);
      }
    };
    for (const r of roots) visit(r, []);
    assert.deepEqual(found, [], 'a test that opens sockets or starts processes belongs in test/integration');
  });
});
