/**
 * "Did you mean": the candidate nearest to a mistyped word, for the app config's keys and the
 * CLI's commands and flags. Plain Levenshtein distance (a swap of two letters is two edits).
 */

/** The number of one-letter insertions, deletions and substitutions that turn `a` into `b`. */
export function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}

/**
 * The candidate nearest to `word`, if it is at most two edits away and no more than a third of
 * the word's letters (so `ab` suggests nothing and a word that is merely short is not "corrected");
 * the first of equally near ones.
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: { c: string; d: number } | undefined;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (best === undefined || d < best.d) best = { c, d };
  }
  return best && best.d <= Math.min(2, Math.floor(word.length / 3)) ? best.c : undefined;
}
