/**
 * How every command prints: `--json` output (stable keys, documented in the README) and plain-text
 * tables. Commands print through these so that every table and every JSON document looks alike.
 */

/** The value as indented JSON on stdout: what `--json` prints. */
export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

/**
 * Left-aligned columns separated by two spaces, the first row being the header; the last column is
 * not padded and no line ends in spaces. Widths count code points, so `✓` and `→` take one column.
 */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, [...cell].length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => (i === r.length - 1 ? cell : cell + ' '.repeat((widths[i] ?? 0) - [...cell].length)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
