/**
 * `/v1/apps/{app}/machines/{id}` → a RegExp matching such paths and the names of its `{…}`
 * segments, in order. A `{name}` matches one non-empty path segment; the rest matches literally.
 * Shared by the agent's admin API and the control plane's router.
 */
export function compilePathTemplate(template: string): { re: RegExp; names: string[] } {
  const names: string[] = [];
  const source = template
    .split('/')
    .map((seg) => {
      const m = /^\{(\w+)\}$/.exec(seg);
      if (!m) return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      names.push(m[1]!);
      return '([^/]+)';
    })
    .join('/');
  return { re: new RegExp(`^${source}$`), names };
}
