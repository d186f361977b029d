/**
 * `starling completion zsh`: a completion function for zsh, the tree written out as associative
 * arrays; nouns, verbs and flags are offered with their summaries (_describe).
 */
import { shQuote } from './bash.js';
import { knownKeys, type CompletionModel } from './model.js';

/** `word:summary` for _describe: a colon in the word would end it early. */
function described(word: string, summary: string): string {
  return `${word.replace(/:/g, '\\:')}:${summary}`;
}

function assoc(name: string, rows: [string, string][]): string[] {
  return [`${name}=(`, ...rows.map(([k, v]) => `  ${shQuote(k)} ${shQuote(v)}`), ')'];
}

export function zshScript(m: CompletionModel): string {
  const fn = `_${m.name}`;
  const next: [string, string][] = [...m.next].map(([k, ws]) => [k, ws.map((w) => described(w.word, w.summary)).join('\n')]);
  const flags: [string, string][] = [...m.commands].map(([k, fs]) => [k, fs.map((f) => described(f.flag, f.description)).join('\n')]);
  const valued: [string, string][] = [...m.commands].map(([k, fs]) => [k, fs.filter((f) => f.takesValue).map((f) => f.flag).join(' ')]);
  const choices: [string, string][] = [...m.commands].flatMap(([k, fs]) => fs.filter((f) => f.choices).map((f): [string, string] => [`${k} ${f.flag}`, f.choices!.join(' ')]));
  return [
    `#compdef ${m.name}`,
    `# zsh completion for ${m.name}, generated from its command tree by \`${m.name} completion zsh\`.`,
    `# Load it now: source <(${m.name} completion zsh)`,
    `# Or for good: ${m.name} completion zsh > "\${fpath[1]}/${fn}"`,
    '',
    `typeset -gA ${fn}_next ${fn}_flags ${fn}_valued ${fn}_choices`,
    `typeset -ga ${fn}_known`,
    ...assoc(`${fn}_next`, next),
    ...assoc(`${fn}_flags`, flags),
    ...assoc(`${fn}_valued`, valued),
    ...assoc(`${fn}_choices`, choices),
    `${fn}_known=(${knownKeys(m).map(shQuote).join(' ')})`,
    '',
    `${fn}() {`,
    '  local key="" cmd="" w i prev',
    '  # the command typed so far: the longest run of words after the name that names one',
    '  for ((i = 2; i < CURRENT; i++)); do',
    '    w=${words[i]}',
    `    if (( \${${fn}_known[(Ie)\${key:+$key }$w]} )); then key="\${key:+$key }$w"; else break; fi`,
    '  done',
    `  (( \${+${fn}_flags[$key]} )) && cmd=$key`,
    '  prev=${words[CURRENT-1]}',
    `  if [[ -n $cmd && $prev == --* ]] && (( \${\${(s: :)${fn}_valued[$cmd]}[(Ie)$prev]} )); then`,
    `    if (( \${+${fn}_choices[$cmd $prev]} )); then compadd -- \${(s: :)${fn}_choices[$cmd $prev]}; else _files; fi`,
    '    return',
    '  fi',
    '  local -a described',
    '  if [[ $PREFIX == -* ]]; then',
    `    if [[ -n $cmd ]]; then described=(\${(f)${fn}_flags[$cmd]}); _describe -t options option described`,
    "    elif [[ -z $key ]]; then compadd -- --help --version; fi",
    '    return',
    '  fi',
    `  if (( i == CURRENT )) && (( \${+${fn}_next[$key]} )); then`,
    `    described=(\${(f)${fn}_next[$key]}); _describe -t commands command described`,
    '    return',
    '  fi',
    '  _files',
    '}',
    '',
    '# autoloaded from $fpath, or sourced',
    `if [[ \${zsh_eval_context[-1]} == loadautofunc ]]; then ${fn} "$@"; else compdef ${fn} ${m.name}; fi`,
    '',
  ].join('\n');
}
