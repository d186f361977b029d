/** Plain-text output for the demo: headings and small aligned tables, no colours (logs stay readable). */

export function heading(text: string): void {
  console.log(`\n${text}\n${'─'.repeat(text.length)}`);
}

export function line(text = ''): void {
  console.log(text);
}

/** A paragraph, wrapped at `width` columns. */
export function paragraph(text: string, width = 96): void {
  let cur = '';
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    if (cur !== '' && cur.length + 1 + word.length > width) {
      console.log(cur);
      cur = word;
    } else cur = cur === '' ? word : `${cur} ${word}`;
  }
  if (cur !== '') console.log(cur);
}

/** Lines indented by two spaces. */
export function indent(text: string): void {
  for (const l of text.split('\n')) console.log(`  ${l}`);
}

export function table(head: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (cells: readonly string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  indent([fmt(head), fmt(widths.map((w) => '─'.repeat(w))), ...rows.map(fmt)].join('\n'));
}

/** "a ×3, b ×2", sorted by value. */
export function tally(values: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([v, n]) => `${v} ×${n}`).join(', ');
}
