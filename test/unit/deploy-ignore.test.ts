/** .starlingignore / .dockerignore patterns (src/cli/commands/deploy/ignore.ts): gitignore rules, Docker's take-back. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseIgnore } from '../../src/cli/commands/deploy/ignore.js';

/** Whether each path is left out, walking down as the packer does (a directory's answer passes to what is in it). */
function check(text: string, paths: Record<string, boolean>): void {
  const rules = parseIgnore(text);
  for (const [path, want] of Object.entries(paths)) {
    const isDir = path.endsWith('/');
    const segs = path.replace(/\/$/, '').split('/');
    let ignored = false;
    for (let i = 1; i <= segs.length; i++) ignored = rules.ignored(segs.slice(0, i).join('/'), i < segs.length || isDir, ignored);
    assert.equal(ignored, want, `${path} with ${JSON.stringify(text)}`);
  }
}

describe('ignore patterns', () => {
  it('a name matches at any depth; a slash anchors it', () => {
    check('*.log\n/build\ndocs/*.md\n', { 'a.log': true, 'x/y/a.log': true, 'build/out.js': true, 'src/build/x.js': false, 'docs/a.md': true, 'docs/sub/a.md': false, 'a.js': false });
  });

  it('** spans directories; a trailing slash matches directories only', () => {
    check('**/cache/\nlogs/**\na/**/z\ntmp/\n', { 'x/y/cache/f': true, cache: false, 'cache/': true, 'logs/a/b': true, 'a/z': true, 'a/b/c/z': true, tmp: false, 'tmp/f': true });
  });

  it('! takes a path back, the last match decides, also inside a left-out directory', () => {
    check('node_modules/\n!node_modules/keep/\n*.tmp\n!keep.tmp\n', { 'node_modules/x/i.js': true, 'node_modules/keep/i.js': false, 'a.tmp': true, 'keep.tmp': false });
    check('!a.txt\n*.txt\n', { 'a.txt': true });
  });

  it('comments, blank lines, ./ prefixes, character classes; .git always', () => {
    check('# a comment\n\n./out\nfile[0-9].txt\n', { out: true, '# a comment': false, 'file1.txt': true, 'filex.txt': false, '.git/config': true, 'sub/.git/HEAD': true });
    check('', { '.git/': true, 'a.js': false });
  });
});
