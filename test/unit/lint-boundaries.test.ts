/**
 * The lint rule behind "a part of src/ imports another part only through its index.ts"
 * (eslint/part-boundaries.js): it fails a deep import and passes an index import, and the project's
 * eslint.config.js turns it on, as an error, for src/ and not for test/.
 *
 * Fast on purpose: each case lints one snippet at a virtual path with the rule alone and
 * typescript-eslint's parser without type information (the project config's type-aware rules would
 * build a TypeScript program of the whole tree first).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { ESLint, type Linter } from 'eslint';
import tseslint from 'typescript-eslint';
import { repoRoot } from '../helpers/paths.js';

const ROOT = repoRoot();
const RULE = 'starling/part-boundaries';

async function lint(filePath: string, code: string): Promise<string[]> {
  const plugin = (await import(pathToFileURL(join(ROOT, 'eslint/part-boundaries.js')).href)) as { default: ESLint.Plugin };
  const config: Linter.Config[] = [
    {
      files: ['**/*.ts'],
      languageOptions: { parser: tseslint.parser },
      plugins: { starling: plugin.default },
      rules: { [RULE]: ['error', { src: join(ROOT, 'src') }] },
    },
  ];
  const eslint = new ESLint({ cwd: ROOT, overrideConfigFile: true, overrideConfig: config });
  const [result] = await eslint.lintText(code, { filePath: join(ROOT, filePath) });
  assert.ok(result, 'ESLint linted the snippet');
  return result.messages.map((m) => `${m.ruleId ?? 'parser'}: ${m.message}`);
}

describe('lint: parts import each other only through index.ts', () => {
  it('fails a deep import into another part, and names the index to import instead', async () => {
    assert.deepEqual(await lint('src/agent/x.ts', `import { Exchange } from '../proxy/core/exchange.js';\n`), [
      `${RULE}: '../proxy/core/exchange.js' reaches inside the part 'proxy': import '../proxy/index.js' (its index.ts) instead, and export what you need there.`,
    ]);
  });

  it("passes an import of another part's index.ts, and any file of the importer's own part", async () => {
    const code = [
      `import { ProxyServer } from '../../proxy/index.js';`,
      `import type { Clock } from '../../shared/index.js';`,
      `import { loadAgentConfig } from '../config.js';`,
      `import { x } from '../../agent/state-dir.js';`,
      `import { readFile } from 'node:fs/promises';`,
      `import { z } from 'zod';`,
    ].join('\n');
    assert.deepEqual(await lint('src/agent/admin/x.ts', code), []);
  });

  it('sees re-exports, import() and import types, at any depth', async () => {
    const code = [
      `export * from '../../../control/store/sqlite.js';`,
      `export { RouteTable } from '../../../proxy/route-table/table.js';`,
      `const lab = () => import('../../../lab/plan.js');`,
      `type Doc = import('../../../contract/documents.js').AppDoc;`,
    ].join('\n');
    const messages = await lint('src/cli/commands/lab/x.ts', code);
    assert.deepEqual(
      messages.map((m) => /'([^']+)' \(its index\.ts\)/.exec(m)?.[1]),
      ['../../../control/index.js', '../../../proxy/index.js', '../../../lab/index.js', '../../../contract/index.js'],
    );
  });

  it("a sub-folder's index is still inside its part: shared/metrics is reached through shared/index.js", async () => {
    const messages = await lint('src/proxy/x.ts', `import { Counter } from '../shared/metrics/index.js';\nimport { Router } from '../http/index.js';\n`);
    assert.equal(messages.length, 1, messages.join('\n'));
    assert.ok(messages[0]?.includes(`import '../shared/index.js'`), messages.join('\n'));
    assert.deepEqual(await lint('src/shared/x.ts', `import { Counter } from './metrics/index.js';\n`), []);
  });

  it('leaves files outside src/ alone: tests may import the internals they test', async () => {
    assert.deepEqual(await lint('test/unit/x.test.ts', `import { Exchange } from '../../src/proxy/core/exchange.js';\n`), []);
  });

  it('is on, as an error, in eslint.config.js for src/ and not for test/', async () => {
    const eslint = new ESLint({ cwd: ROOT });
    const forSrc = (await eslint.calculateConfigForFile(join(ROOT, 'src/agent/x.ts'))) as Linter.Config;
    const forTest = (await eslint.calculateConfigForFile(join(ROOT, 'test/unit/x.test.ts'))) as Linter.Config;
    const [severity, options] = forSrc.rules?.[RULE] as [number, { src: string }];
    assert.equal(severity, 2);
    assert.equal(join(options.src), join(ROOT, 'src/'));
    assert.equal(forTest.rules?.[RULE], undefined);
  });
});
