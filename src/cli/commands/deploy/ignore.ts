/**
 * `.starlingignore` / `.dockerignore`: which of an image directory's files `starling deploy` leaves
 * out. gitignore patterns (https://git-scm.com/docs/gitignore#_pattern_format): `#` comments,
 * `*` `?` `[abc]` within one path segment, `**` across segments, a trailing `/` for directories
 * only, a `/` at the start or in the middle anchors the pattern to the directory, `!` takes a path
 * back in; the last pattern that matches a path decides. Unlike git, and as Docker does, a path
 * inside a left-out directory can be taken back (`node_modules/` then `!node_modules/keep/`).
 * Pure: the walk that uses it is in image-pack.ts.
 */

/** Files and directories always left out, whatever the ignore file says: history, not the app. */
export const ALWAYS_IGNORED = ['.git'];

/** The ignore files, in order of preference: .starlingignore wins when both exist. */
export const IGNORE_FILES = ['.starlingignore', '.dockerignore'] as const;

interface Rule {
  re: RegExp;
  negated: boolean;
  dirOnly: boolean;
}

export interface IgnoreRules {
  /** Whether `path` (relative, `/`-separated) is left out; `parentIgnored` is its directory's answer. */
  ignored(path: string, isDir: boolean, parentIgnored: boolean): boolean;
  /** Some pattern takes paths back (`!`): a left-out directory must still be looked into. */
  readonly negates: boolean;
}

function escape(c: string): string {
  return /[\\^$.|+(){}]/.test(c) ? `\\${c}` : c;
}

/** One glob → the body of a regular expression over a `/`-separated path. */
function globToRegex(glob: string): string {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      const slashAfter = glob[i + 2] === '/';
      const atStart = i === 0 || glob[i - 1] === '/';
      if (atStart && slashAfter) {
        out += '(?:.*/)?';
        i += 2;
      } else {
        out += '.*';
        i += 1;
      }
    } else if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) out += '\\[';
      else {
        const body = glob.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\');
        out += `[${body}]`;
        i = end;
      }
    } else if (c === '\\' && i + 1 < glob.length) out += escape(glob[++i]!);
    else out += escape(c);
  }
  return out;
}

/** The rules of an ignore file's text. */
export function parseIgnore(text: string): IgnoreRules {
  const rules: Rule[] = [];
  for (const raw of text.split(/\r?\n/)) {
    let line = raw.replace(/(?<!\\)\s+$/, '');
    if (line === '' || line.startsWith('#')) continue;
    const negated = line.startsWith('!');
    if (negated) line = line.slice(1);
    const dirOnly = line.endsWith('/');
    line = line.replace(/\/+$/, '');
    // Docker writes `./foo`; git writes `/foo`: both mean foo at the top.
    line = line.replace(/^\.\//, '/');
    if (line === '' || line === '/') continue;
    const anchored = line.includes('/');
    const body = globToRegex(line.replace(/^\//, ''));
    rules.push({ re: new RegExp(anchored ? `^${body}$` : `^(?:.*/)?${body}$`), negated, dirOnly });
  }
  return {
    negates: rules.some((r) => r.negated),
    ignored(path, isDir, parentIgnored) {
      if (path.split('/').some((s) => ALWAYS_IGNORED.includes(s))) return true;
      let out = parentIgnored;
      for (const r of rules) if ((!r.dirOnly || isDir) && r.re.test(path)) out = !r.negated;
      return out;
    },
  };
}
