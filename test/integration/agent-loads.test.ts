/**
 * The agent's entry stays light: it meets the control plane only through src/contract, so loading
 * it loads no part of the control plane (its API server, its store, better-sqlite3), nor what only
 * ordering or making certificates needs (acme-client, @peculiar/x509).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { modulesLoadedBy } from '../helpers/loaded-modules.js';

const AGENT = new URL('../../src/agent/index.js', import.meta.url).pathname;

test('loading the agent loads neither the control plane nor better-sqlite3, acme-client or x509', () => {
  const { modules, addons } = modulesLoadedBy(AGENT);
  assert.ok(modules.some((u) => u.includes('/dist/src/agent/')), 'the hook saw the agent itself');
  assert.ok(modules.some((u) => u.includes('/dist/src/contract/')), 'and the contract it speaks');
  assert.deepEqual(modules.filter((u) => u.includes('/dist/src/control/')), [], 'no module of the control plane');
  assert.deepEqual(addons.filter((a) => a.includes('better_sqlite3')), [], 'no better-sqlite3 addon');
  for (const heavy of ['/node_modules/better-sqlite3/', '/node_modules/acme-client/', '/node_modules/@peculiar/x509/']) {
    assert.deepEqual(modules.filter((u) => u.includes(heavy)), [], `nothing of ${heavy}`);
  }
});
