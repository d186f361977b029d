/**
 * `starling completion bash`: a completion function for bash (3.2 and later: no associative
 * arrays), the tree written out as `case` tables. It completes nouns and verbs, each command's
 * flags, the values of flags that take one of a few words, and file names elsewhere (-o default).
 */
import { knownKeys, type CompletionModel } from './model.js';

/** A word in single quotes, for a shell. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function caseTable(fn: string, doc: string, rows: [string, string][]): string[] {
  return [
    `# ${doc}`,
    `${fn}() {`,
    '  case "$1" in',
    ...rows.map(([k, v]) => `    ${shQuote(k)}) echo ${shQuote(v)} ;;`),
    '    *) return 1 ;;',
    '  esac',
    '}',
  ];
}

export function bashScript(m: CompletionModel): string {
  const fn = `_${m.name}`;
  const next: [string, string][] = [...m.next].map(([k, ws]) => [k, ws.map((w) => w.word).join(' ')]);
  const flags: [string, string][] = [...m.commands].map(([k, fs]) => [k, fs.map((f) => f.flag).join(' ')]);
  const valued: [string, string][] = [...m.commands].map(([k, fs]) => [k, fs.filter((f) => f.takesValue).map((f) => f.flag).join(' ')]);
  const choices: [string, string][] = [...m.commands].flatMap(([k, fs]) => fs.filter((f) => f.choices).map((f): [string, string] => [`${k} ${f.flag}`, f.choices!.join(' ')]));
  return [
    `# bash completion for ${m.name}, generated from its command tree by \`${m.name} completion bash\`.`,
    `# Load it now: source <(${m.name} completion bash)`,
    `# Or for good: ${m.name} completion bash > ~/.local/share/bash-completion/completions/${m.name}`,
    '',
    ...caseTable(`${fn}_next`, 'the words that may follow the words typed so far', next),
    ...caseTable(`${fn}_flags`, "a command's flags", flags),
    ...caseTable(`${fn}_valued`, 'the flags of a command that take a value', valued),
    ...caseTable(`${fn}_choices`, 'the values a flag takes, when they are few', choices),
    `# every run of words that names a noun, a part of a verb or a command`,
    `${fn}_known() {`,
    '  case "$1" in',
    `    ${knownKeys(m).map(shQuote).join('|')}) return 0 ;;`,
    '  esac',
    '  return 1',
    '}',
    '',
    `${fn}() {`,
    '  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} key="" cmd="" w i',
    '  # `--flag=value`: bash splits at "=" (COMP_WORDBREAKS)',
    '  if [[ $cur == = ]]; then cur=""; elif [[ $prev == = && $COMP_CWORD -ge 2 ]]; then prev=${COMP_WORDS[COMP_CWORD-2]}; fi',
    '  # the command typed so far: the longest run of words after the name that names one',
    '  for ((i = 1; i < COMP_CWORD; i++)); do',
    '    w=${COMP_WORDS[i]}',
    `    if ${fn}_known "\${key:+$key }$w"; then key="\${key:+$key }$w"; else break; fi`,
    '  done',
    `  ${fn}_flags "$key" >/dev/null && cmd=$key`,
    '  COMPREPLY=()',
    `  if [[ -n $cmd && $prev == --* && " $(${fn}_valued "$cmd") " == *" $prev "* ]]; then`,
    `    local values; values=$(${fn}_choices "$cmd $prev") && COMPREPLY=($(compgen -W "$values" -- "$cur"))`,
    '    return 0',
    '  fi',
    '  if [[ $cur == -* ]]; then',
    `    if [[ -n $cmd ]]; then COMPREPLY=($(compgen -W "$(${fn}_flags "$cmd")" -- "$cur"))`,
    `    elif [[ -z $key ]]; then COMPREPLY=($(compgen -W '--help --version' -- "$cur")); fi`,
    '    return 0',
    '  fi',
    '  if ((i == COMP_CWORD)); then',
    `    local words; words=$(${fn}_next "$key") && COMPREPLY=($(compgen -W "$words" -- "$cur"))`,
    '  fi',
    '  return 0',
    '}',
    `complete -o default -F ${fn} ${m.name}`,
    '',
  ].join('\n');
}
