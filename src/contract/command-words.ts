/**
 * A command written as one string (`[deploy] release_command = "bin/rails db:migrate"`) → argv,
 * split as flyctl splits it (github.com/google/shlex, POSIX shell words): white space separates
 * words; 'single quotes' keep everything literally; "double quotes" keep spaces, and in them a
 * backslash escapes only `"`, `\`, `$`, `` ` `` and a newline; outside quotes a backslash escapes
 * any character. No variables, globs, pipes or `&&`: it is not run by a shell (write
 * `sh -c '…'` for that). shlex's `#` comments are not taken: a `#` is part of its word.
 */

/** argv, or the reason it cannot be split (an unclosed quote, a trailing backslash, nothing to run). */
export function splitCommandWords(s: string): { ok: true; argv: string[] } | { ok: false; reason: string } {
  const argv: string[] = [];
  let word = '';
  let inWord = false;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (quote === "'") {
      if (ch === "'") quote = undefined;
      else word += ch;
    } else if (quote === '"') {
      if (ch === '"') quote = undefined;
      else if (ch === '\\' && i + 1 < s.length && '"\\$`\n'.includes(s[i + 1]!)) word += s[++i];
      else word += ch;
    } else if (ch === '\\') {
      if (i + 1 >= s.length) return { ok: false, reason: 'ends with a backslash that escapes nothing' };
      word += s[++i];
      inWord = true;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) argv.push(word);
      word = '';
      inWord = false;
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (quote !== undefined) return { ok: false, reason: `has an unclosed ${quote} quote` };
  if (inWord) argv.push(word);
  if (argv.length === 0) return { ok: false, reason: 'must name a program' };
  return { ok: true, argv };
}

/** argv for people: words with spaces or quotes are quoted again ("node migrate.mjs 'a b'"). */
export function formatCommandWords(argv: readonly string[]): string {
  return argv.map((w) => (w !== '' && /^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replaceAll("'", `'"'"'`)}'`)).join(' ');
}

/** The words of a command the schema already checked (an unclosed quote is the schema's error). */
export function commandWords(s: string): string[] {
  const w = splitCommandWords(s);
  return w.ok ? w.argv : [];
}
