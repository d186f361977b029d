/**
 * `starling completion fish`: `complete` lines for fish, one per noun, verb and flag, each
 * guarded by the command typed so far.
 */
import { knownKeys, type CompletionModel } from './model.js';

/** A word in fish's single quotes (only \ and ' are special there). */
function fishQuote(s: string): string {
  return `'${s.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

export function fishScript(m: CompletionModel): string {
  const fn = `__${m.name}`;
  const at = (key: string): string => `-n ${fishQuote(`${fn}_at ${fishQuote(key)}`)}`;
  const lines = [
    `# fish completion for ${m.name}, generated from its command tree by \`${m.name} completion fish\`.`,
    `# Load it now: ${m.name} completion fish | source`,
    `# Or for good: ${m.name} completion fish > ~/.config/fish/completions/${m.name}.fish`,
    '',
    `set -g ${fn}_known ${knownKeys(m).map(fishQuote).join(' ')}`,
    '',
    '# the command typed so far: the longest run of words after the name that names one',
    `function ${fn}_key`,
    '    set -l words (commandline -opc)',
    '    set -e words[1]',
    '    set -l key',
    '    for w in $words',
    "        set -l next (string join -- ' ' $key $w)",
    `        contains -- $next $${fn}_known; or break`,
    '        set key $next',
    '    end',
    "    string join -- ' ' $key",
    'end',
    '',
    `function ${fn}_at --argument-names key`,
    `    set -l now (${fn}_key)`,
    '    test "$now" = "$key"',
    'end',
    '',
    `complete -c ${m.name} -f`,
    `complete -c ${m.name} ${at('')} -l help -d 'show the commands'`,
    `complete -c ${m.name} ${at('')} -l version -d 'print the version'`,
  ];
  for (const [key, words] of m.next) {
    for (const w of words) lines.push(`complete -c ${m.name} ${at(key)} -a ${fishQuote(w.word)} -d ${fishQuote(w.summary)}`);
  }
  for (const [key, flags] of m.commands) {
    if (m.withArgs.has(key)) lines.push(`complete -c ${m.name} ${at(key)} -F`);
    for (const f of flags) {
      const value = f.choices ? ` -x -a ${fishQuote(f.choices.join(' '))}` : f.takesValue ? ' -r -F' : '';
      lines.push(`complete -c ${m.name} ${at(key)} -l ${f.flag.slice(2)}${f.short === undefined ? '' : ` -s ${f.short}`}${value} -d ${fishQuote(f.description)}`);
    }
  }
  return [...lines, ''].join('\n');
}
