// Lint: typescript-eslint's recommended type-aware rules (they see the types, so they catch the
// promise nobody awaits and the async callback handed to an API that ignores its promise), the
// house's structure (a part of src/ is imported only through its index.ts) and its habits (no
// console in daemons: use the logger; the CLI and scripts print on purpose). Import cycles are
// caught by test/unit/import-cycles.test.ts, which is much faster than a lint rule for it.
import { fileURLToPath } from 'node:url';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import starling from './eslint/part-boundaries.js';

const SRC = fileURLToPath(new URL('./src/', import.meta.url));

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.lab/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      // Types from tsconfig.json, which includes src, test, bench and scripts.
      parserOptions: { projectService: true, tsconfigRootDir: fileURLToPath(new URL('.', import.meta.url)) },
    },
    plugins: { starling },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
      // A promise must be awaited, returned, given a .catch() or marked `void` on purpose. node:test's
      // describe/it/test/hooks return promises the runner itself awaits, so calling them bare is fine.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            {
              from: 'package',
              package: 'node:test',
              name: ['describe', 'it', 'test', 'suite', 'before', 'after', 'beforeEach', 'afterEach'],
            },
          ],
        },
      ],
      // No async function where a void callback is expected (an event listener, forEach, a
      // setTimeout): its rejection would go nowhere.
      '@typescript-eslint/no-misused-promises': 'error',
      // Off: handlers and drivers implement Promise-returning interfaces (routes, the runtime driver,
      // the state store, the certificate sources), and many implementations have nothing to await.
      // `async` keeps their throws as rejections, which the callers expect.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // A part of src/ (a top-level folder src/<part>/) imports another part only through its
    // index.ts: `../<part>/index.js`, never a file inside it, and nothing else: no sub-barrels.
    // That is why the HTTP kit is a part of its own (src/http) rather than shared/http: it loads
    // node:http (about 50 ms and 9 MiB), and most importers of shared want only its errors, clock
    // and log; `starling --help` loads shared and not the kit (test/integration/cli-lazy.test.ts).
    files: ['src/**/*.ts'],
    rules: { 'starling/part-boundaries': ['error', { src: SRC }] },
  },
  {
    // Tests, benchmarks and scripts are not parts: they use each part's index.ts and, where a unit
    // test tests a core (or a benchmark measures one), a file inside a part; the rule above is for
    // src/ alone.
    // Tests assert on parsed JSON (API answers, logs, reports), which is `any` by nature: the
    // no-unsafe-* family would ask for a cast before every assertion, which proves nothing.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    files: ['src/cli/**', 'scripts/**', 'bench/**', 'test/**'],
    rules: { 'no-console': 'off' },
  },
  {
    // JavaScript, outside tsconfig.json: this file, the rule in eslint/, and the plain apps that run
    // inside machines (examples, test fixtures). No types; Node's globals.
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', fetch: 'readonly', AbortSignal: 'readonly' } },
  },
  {
    files: ['**/*.mjs'],
    rules: { 'no-console': 'off' },
  },
);
