/**
 * No import cycles between files: every cycle in the static import graph of src/, test/, bench/
 * and scripts/ fails this test, each one printed as a path (a.ts → b.ts → a.ts). Type-only imports
 * and `export … from` count: a cycle of types is still two files that cannot be read, moved or
 * split one without the other. Dynamic `import()` does not: it is how the CLI loads a command
 * lazily, and it runs after both modules have been evaluated.
 *
 * A test rather than a lint rule (eslint-plugin-import-x's no-cycle): this reads ~500 sources once
 * with TypeScript's parser in about a second, where no-cycle resolves every import of every
 * file again inside `eslint .`, which is already the slowest step of the suite.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';
import { repoRoot } from '../helpers/paths.js';

const ROOTS = ['src', 'test', 'bench', 'scripts'];

/** file → the files it imports statically (relative specifiers only; `./x.js` is `./x.ts` in the source). */
export type ImportGraph = Map<string, string[]>;

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'fixtures' || e.name === 'node_modules' ? [] : tsFiles(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The relative specifiers of the top-level import and export-from statements of one source. */
export function staticImports(fileName: string, text: string): string[] {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const out: string[] = [];
  for (const st of sf.statements) {
    if ((ts.isImportDeclaration(st) || ts.isExportDeclaration(st)) && st.moduleSpecifier && ts.isStringLiteral(st.moduleSpecifier)) {
      const spec = st.moduleSpecifier.text;
      if (spec.startsWith('.')) out.push(spec);
    }
  }
  return out;
}

export function importGraph(root: string): ImportGraph {
  const graph: ImportGraph = new Map();
  for (const file of ROOTS.flatMap((r) => tsFiles(join(root, r)))) {
    const deps = staticImports(file, readFileSync(file, 'utf8')).map((s) => resolve(dirname(file), s.replace(/\.js$/, '.ts')));
    graph.set(file, deps);
  }
  return graph;
}

/**
 * One cycle per strongly connected component of more than one file (or a file importing itself),
 * found with Tarjan's algorithm; each as the files in import order, the first repeated at the end.
 */
export function importCycles(graph: ImportGraph): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || graph.get(v)!.includes(v)) components.push(component);
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return components.map((c) => cycleThrough(graph, new Set(c), c.sort()[0]!));
}

/** A shortest cycle from `start` back to itself inside one component (breadth-first). */
function cycleThrough(graph: ImportGraph, component: Set<string>, start: string): string[] {
  const parent = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of graph.get(v) ?? []) {
      if (!component.has(w)) continue;
      if (w === start) {
        const path: string[] = [];
        for (let u = v; u !== start; u = parent.get(u)!) path.unshift(u);
        return [start, ...path, start];
      }
      if (!parent.has(w)) {
        parent.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}

describe('import cycles', () => {
  it('finds a cycle, type-only imports and re-exports included, and ignores dynamic import()', () => {
    const files: Record<string, string> = {
      '/r/a.ts': `import { b } from './b.js';`,
      '/r/b.ts': `import type { C } from './c.js';\nexport const b = 1;`,
      '/r/c.ts': `export { a } from './a.js';\nexport type C = 1;`,
      '/r/lazy.ts': `export const load = () => import('./d.js');`,
      '/r/d.ts': `import { load } from './lazy.js';`,
    };
    const graph: ImportGraph = new Map(
      Object.entries(files).map(([f, text]) => [f, staticImports(f, text).map((s) => resolve(dirname(f), s.replace(/\.js$/, '.ts')))]),
    );
    assert.deepEqual(importCycles(graph), [['/r/a.ts', '/r/b.ts', '/r/c.ts', '/r/a.ts']]);
  });

  it('src, test, bench and scripts have none', () => {
    const root = repoRoot();
    const graph = importGraph(root);
    assert.ok(graph.size > 100, `read ${graph.size} files under ${ROOTS.join(', ')}`);
    const cycles = importCycles(graph).map((c) => c.map((f) => relative(root, f)).join(' → '));
    assert.deepEqual(cycles, [], `import cycles (break each: move the shared type to the file both use, or invert it behind an interface):\n${cycles.join('\n')}`);
  });
});
