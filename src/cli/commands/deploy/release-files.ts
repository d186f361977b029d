/**
 * fly's `[[files]] local_path`: a file on the deployer's computer, read here (relative to the
 * config file's directory) and sent as `raw_value` in the release, so the platform never needs the
 * deployer's disk. At most 1 MiB each, as the config's raw_value limit.
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { usageError } from '../../kit/index.js';

const MAX_BYTES = 1024 * 1024;

/** `doc` (the config as written) with every local_path replaced by its file's raw_value. */
export async function inlineLocalFiles(doc: Record<string, unknown>, configFile: string): Promise<Record<string, unknown>> {
  const files = doc.files;
  if (!Array.isArray(files)) return doc;
  const out = await Promise.all(
    files.map(async (f: unknown, i) => {
      if (typeof f !== 'object' || f === null || typeof (f as { local_path?: unknown }).local_path !== 'string') return f;
      const { local_path, ...rest } = f as { local_path: string } & Record<string, unknown>;
      const path = resolve(dirname(configFile), local_path);
      const size = await stat(path).then((s) => (s.isFile() ? s.size : -1), () => -2);
      if (size === -2) throw usageError(`${configFile}: files[${i}].local_path: no file ${path}`);
      if (size === -1) throw usageError(`${configFile}: files[${i}].local_path: ${path} is not a regular file`);
      if (size > MAX_BYTES) throw usageError(`${configFile}: files[${i}].local_path: ${path} is ${size} bytes, more than 1 MiB`);
      return { ...rest, raw_value: (await readFile(path)).toString('base64') };
    }),
  );
  return { ...doc, files: out };
}
