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
