/** The agent's state directory on a fresh host: what it makes is passable (0711), what exists is left alone. */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ensureStateDir } from '../../src/agent/state-dir.js';

test('makes the missing directories 0711 whatever the umask, and leaves existing ones as they are', () => {
  const root = mkdtempSync(join(tmpdir(), 'starling-state-dir-'));
  const old = process.umask(0o077);
  try {
    mkdirSync(join(root, 'var'));
    chmodSync(join(root, 'var'), 0o750);
    ensureStateDir(join(root, 'var', 'lib', 'starling', 'agent'));
    for (const d of ['var/lib', 'var/lib/starling', 'var/lib/starling/agent']) assert.equal(statSync(join(root, d)).mode & 0o777, 0o711, d);
    assert.equal(statSync(join(root, 'var')).mode & 0o777, 0o750, 'an existing directory is the operator\'s');
    ensureStateDir(join(root, 'var', 'lib', 'starling', 'agent'));
  } finally {
    process.umask(old);
    rmSync(root, { recursive: true, force: true });
  }
});
