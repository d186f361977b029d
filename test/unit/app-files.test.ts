/** fly's [[files]] in the app config: validation, and each machine's files (machine-config.ts filesFor). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppConfigError, filesFor, parseAppConfig } from '../../src/contract/index.js';

const issues = (toml: string): string[] => {
  try {
    parseAppConfig(toml, 's.toml');
  } catch (e) {
    if (e instanceof AppConfigError) return e.issues.map((i) => `${i.path}: ${i.message}`);
    throw e;
  }
  return [];
};

describe('[[files]]', () => {
  it('needs one source each, an absolute path, base64, and known groups', () => {
    const got = issues(
      'app = "x"\n[processes]\nweb = "w"\n' +
        '[[files]]\nguest_path = "/a"\n' +
        '[[files]]\nguest_path = "/b"\nraw_value = "aGk="\nsecret_name = "S"\n' +
        '[[files]]\nguest_path = "rel/path"\nraw_value = "aGk="\n' +
        '[[files]]\nguest_path = "/c"\nraw_value = "not base64!"\n' +
        '[[files]]\nguest_path = "/d"\nraw_value = "aGk="\nprocesses = ["worker"]\n',
    );
    assert.equal(got.length, 5, got.join('\n'));
    assert.match(got[0]!, /^files\[0\]: needs exactly one of raw_value, local_path and secret_name/);
    assert.match(got[1]!, /^files\[1\]: needs exactly one/);
    assert.match(got[2]!, /^files\[2\]\.guest_path: must be an absolute file path/);
    assert.match(got[3]!, /^files\[3\]\.raw_value: must be base64/);
    assert.match(got[4]!, /^files\[4\]\.processes\[0\]: names no process group "worker"/);
  });

  it("gives each machine its group's files, a secret's base64 as is, and refuses what the host cannot resolve by name", () => {
    const { config } = parseAppConfig(
      'app = "x"\n[processes]\nweb = "w"\nworker = "k"\n' +
        '[[files]]\nguest_path = "/all"\nraw_value = "aGk="\n' +
        '[[files]]\nguest_path = "/web-only"\nsecret_name = "KEY"\nprocesses = ["web"]\n',
      's.toml',
    );
    assert.deepEqual(filesFor(config, 'worker', {}, 'x'), [{ guest_path: '/all', content_base64: 'aGk=' }]);
    assert.deepEqual(filesFor(config, 'web', { KEY: 'c2VjcmV0' }, 'x').map((f) => f.content_base64), ['aGk=', 'c2VjcmV0']);
    assert.throws(() => filesFor(config, 'web', {}, 'x'), /\[\[files\]\] \/web-only of app x: the app has no secret KEY/);
    assert.throws(() => filesFor(config, 'web', { KEY: 'plain text value' }, 'x'), (e: Error) => /is not base64/.test(e.message) && !e.message.includes('plain text value'));
    const local = parseAppConfig('app = "x"\n[[files]]\nguest_path = "/l"\nlocal_path = "a.txt"\n', 's.toml').config;
    assert.throws(() => filesFor(local, 'app', {}, 'x'), /local_path is read by starling deploy/);
  });
});
