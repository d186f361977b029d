import { z } from 'zod';

/**
 * fly's `[[statics]]`, as both the app config and the routes file take it: up to MAX_STATICS
 * mappings of a URL prefix to a directory of the image (the edge serves GETs from it: the proxy's
 * core/statics.ts), no two with the same prefix. `tigris_bucket` is the app config's (warned).
 */
export const MAX_STATICS = 10;

const noDots = (p: string) => !p.split('/').some((s) => s === '.' || s === '..');

export const staticMapping = z.strictObject({
  guest_path: z
    .string()
    .max(1024, 'must be at most 1024 characters')
    .refine((p) => p.startsWith('/') && noDots(p) && !p.includes('\0'), 'must be an absolute directory path in the image, without "." or ".."'),
  url_prefix: z
    .string()
    .max(1024, 'must be at most 1024 characters')
    .refine((p) => /^\/[\x21-\x22\x24-\x3e\x40-\x7e]*$/.test(p) && noDots(p), 'must be a URL path starting with "/" (visible ASCII, no "?", "#", "." or ".." segments)'),
  index_document: z
    .string()
    .regex(/^[^/\0]{1,255}$/, 'must be a file name (no "/")')
    .refine((n) => n !== '.' && n !== '..', 'must be a file name')
    .optional(),
});

export type StaticMapping = z.infer<typeof staticMapping>;

/** A prefix as the proxy compares it: without trailing slashes ("/" stays "/"). */
export function staticPrefixKey(prefix: string): string {
  const bare = prefix.replace(/\/+$/, '');
  return bare === '' ? '/' : bare;
}

/** The list, at most MAX_STATICS, each url_prefix once (fly: "only one static mapping is honoured for a given prefix"). */
export function staticsList<T extends z.ZodType<{ url_prefix: string }>>(item: T) {
  return z
    .array(item)
    .max(MAX_STATICS, `at most ${MAX_STATICS} mappings (fly's limit)`)
    .superRefine((list, ctx) => {
      const seen = new Map<string, number>();
      list.forEach((s, i) => {
        const key = staticPrefixKey(s.url_prefix);
        const first = seen.get(key);
        if (first !== undefined) ctx.addIssue({ code: 'custom', path: [i, 'url_prefix'], message: `"${s.url_prefix}" is mapped already by entry ${first}` });
        else seen.set(key, i);
      });
    });
}
