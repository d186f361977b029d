import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (where package.json is), found from this compiled file in dist/test/helpers. */
export function repoRoot(): string {
  let root = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(root, 'package.json'))) {
    if (dirname(root) === root) throw new Error('repository root not found above ' + fileURLToPath(import.meta.url));
    root = dirname(root);
  }
  return root;
}
