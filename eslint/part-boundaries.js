// The house rule "each part under src/ exposes an index.ts; others import only that" (STYLE.md,
// ARCHITECTURE.md) as an ESLint rule: a relative import from src/<a>/… that lands in src/<b>/…
// (b ≠ a) must name src/<b>/index.js itself. A rule of its own rather than no-restricted-imports:
// those patterns match the specifier's text, so they would need one block per folder depth and
// could not tell `../../agent/x.js` written inside agent/ (its own part) from a reach into
// another; this resolves the specifier against the importing file and checks the file it lands on.
// It sees static imports, `export … from`, `import()` and `import('…').Type`.
import path from 'node:path';

/** @type {import('eslint').Rule.RuleModule} */
export const partBoundaries = {
  meta: {
    type: 'problem',
    docs: { description: 'Import another part of src/ only through its index.ts' },
    schema: [
      {
        type: 'object',
        properties: { src: { type: 'string', description: 'absolute path of src/' } },
        required: ['src'],
        additionalProperties: false,
      },
    ],
    messages: {
      deep: "'{{specifier}}' reaches inside the part '{{part}}': import '{{index}}' (its index.ts) instead, and export what you need there.",
    },
  },
  create(context) {
    const src = path.resolve(context.options[0].src);
    const partOf = (file) => {
      const rel = path.relative(src, file);
      if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) return undefined;
      const segments = rel.split(path.sep);
      return segments.length > 1 ? segments[0] : undefined;
    };
    const from = context.filename;
    const own = partOf(from);
    if (own === undefined) return {};

    const check = (node, specifier) => {
      if (typeof specifier !== 'string' || !specifier.startsWith('.')) return;
      const target = path.resolve(path.dirname(from), specifier);
      const part = partOf(target);
      if (part === undefined || part === own) return;
      if (target === path.join(src, part, 'index.js')) return;
      const index = path.relative(path.dirname(from), path.join(src, part, 'index.js')).split(path.sep).join('/');
      context.report({ node, messageId: 'deep', data: { specifier, part, index: index.startsWith('.') ? index : `./${index}` } });
    };
    const literal = (node) => (node && node.type === 'Literal' ? node.value : undefined);
    return {
      ImportDeclaration: (node) => check(node.source, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node.source, node.source.value),
      ExportAllDeclaration: (node) => check(node.source, node.source.value),
      ImportExpression: (node) => check(node.source, literal(node.source)),
      // `import('../x.js').T` in a type: typescript-eslint holds the string in `source`.
      TSImportType: (node) => node.source && check(node.source, node.source.value),
    };
  },
};

export default { meta: { name: 'starling' }, rules: { 'part-boundaries': partBoundaries } };
