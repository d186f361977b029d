/**
 * docs/fly-toml.md names every key the app config takes (the schema's) and every fly key it warns
 * about (the fly-only list), so the page a fly user reads cannot fall behind the code.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { UNSUPPORTED } from '../../src/contract/app-config-schema.js';
import { leafKeys } from '../helpers/schema-keys.js';

const doc = readFileSync(new URL('../../../docs/fly-toml.md', import.meta.url), 'utf8');
const named = new Set([...doc.matchAll(/`([a-z_][\w.[\]-]*)`/g)].map((m) => m[1]!));

describe('docs/fly-toml.md', () => {
  it('names every key the schema takes and every fly-only key', () => {
    const keys = [...leafKeys(), ...UNSUPPORTED.keys()];
    assert.ok(keys.length > 100, `keys found: ${keys.length}`);
    assert.deepEqual(keys.filter((k) => !named.has(k)), [], 'keys missing from docs/fly-toml.md');
  });
});
