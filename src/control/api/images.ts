/**
 * Images: content-addressed `.tar.gz` files. `starling deploy --image DIR|TGZ` uploads the image
 * (PUT, the digest is the sha256 of the bytes and is checked on arrival); agents download it by
 * that digest (GET) and check it again before unpacking. A file appears by rename(2) of a complete,
 * verified upload, so a reader never sees half of one.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { DEFAULT_MAX_IMAGE_BYTES } from '../../contract/index.js';
import { describeError } from '../../shared/index.js';
import { errorBody } from '../../http/index.js';
import { json, rawRoute, route, type Route } from './http.js';
import { DIGEST_RE, type ApiContext } from './schemas.js';


export const imagePath = (dir: string, digest: string): string => join(dir, `${DIGEST_RE.exec(digest)?.[1] ?? 'invalid'}.tar.gz`);

/** Whether the control plane holds this image (a deploy of an image it does not hold is refused). */
export async function hasImage(dir: string, digest: string): Promise<boolean> {
  if (!DIGEST_RE.test(digest)) return false;
  return stat(imagePath(dir, digest)).then(
    (s) => s.isFile(),
    () => false,
  );
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify(body) + '\n');
}

export function imageRoutes(ctx: ApiContext): Route[] {
  const dir = ctx.imagesDir;
  // Larger than any app image we expect; a bound so one upload cannot fill the disk.
  const max = ctx.maxImageBytes ?? DEFAULT_MAX_IMAGE_BYTES;
  const tooLargeBody = errorBody('ERR_IMAGE_TOO_LARGE', `images are at most ${max} bytes (control.toml limits.max_image_bytes)`);
  return [
    route({
      method: 'GET',
      path: '/v1/images',
      access: 'deploy',
      summary: "What an image upload may be: { max_bytes } (starling deploy checks an image's size before uploading it)",
      responses: { '200': '{ max_bytes }' },
      handler: () => Promise.resolve(json(200, { max_bytes: max })),
    }),
    rawRoute({
      method: 'PUT',
      path: '/v1/images/{digest}',
      access: 'deploy',
      summary: 'Upload an image (.tar.gz); its digest is the sha256 of the bytes',
      contentType: 'application/gzip',
      responses: { '200': '{ digest, size } (already held)', '201': '{ digest, size }', '400': 'ERR_IMAGE_DIGEST', '413': 'ERR_IMAGE_TOO_LARGE' },
      async raw(req: IncomingMessage, res: ServerResponse, params) {
        const digest = params.digest!;
        const m = DIGEST_RE.exec(digest);
        if (!m) return void (req.resume(), send(res, 400, errorBody('ERR_IMAGE_DIGEST', 'the digest must be sha256:<64 lower-case hex digits>')));
        const declared = Number(req.headers['content-length'] ?? NaN);
        if (declared > max) return void send(res, 413, tooLargeBody, { connection: 'close' });
        const final = imagePath(dir, digest);
        if (await hasImage(dir, digest)) {
          // Already held: read the body to its end (so the connection stays usable), keep nothing.
          await new Promise<void>((resolve) => {
            req.once('end', resolve).once('error', resolve).once('close', resolve);
            req.resume();
          });
          return void send(res, 200, { digest, size: (await stat(final)).size });
        }
        await mkdir(dir, { recursive: true, mode: 0o700 });
        const tmp = join(dir, `.upload-${randomBytes(6).toString('hex')}`);
        const hash = createHash('sha256');
        let size = 0;
        let tooLarge = false;
        const count = new Transform({
          transform(chunk: Buffer, _enc, cb) {
            size += chunk.length;
            if (size > max) {
              tooLarge = true;
              return cb(new Error('too large'));
            }
            hash.update(chunk);
            cb(null, chunk);
          },
        });
        try {
          await pipeline(req, count, createWriteStream(tmp, { mode: 0o600 }));
        } catch (e) {
          await rm(tmp, { force: true });
          if (tooLarge) return void send(res, 413, tooLargeBody, { connection: 'close' });
          ctx.logger.debug('image upload ended early', { digest, error: describeError(e) });
          return void res.destroy();
        }
        const got = hash.digest('hex');
        if (got !== m[1]) {
          await rm(tmp, { force: true });
          return void send(res, 400, errorBody('ERR_IMAGE_DIGEST', `the upload's sha256 is ${got}, not the ${m[1]} its path names`));
        }
        await rename(tmp, final);
        ctx.logger.info('image uploaded', { digest, size });
        send(res, 201, { digest, size });
      },
    }),
    rawRoute({
      method: 'GET',
      path: '/v1/images/{digest}',
      summary: 'Download an image (.tar.gz) by digest (hosts, and the platform operator)',
      access: 'feed',
      contentType: 'application/gzip',
      responses: { '200': 'the .tar.gz bytes', '404': 'ERR_IMAGE_NOT_FOUND' },
      async raw(_req, res, params) {
        const digest = params.digest!;
        if (!(await hasImage(dir, digest))) return void send(res, 404, errorBody('ERR_IMAGE_NOT_FOUND', `the control plane holds no image ${digest.slice(0, 80)}`));
        const file = imagePath(dir, digest);
        const { size } = await stat(file);
        res.writeHead(200, { 'content-type': 'application/gzip', 'content-length': String(size), 'cache-control': 'public, max-age=31536000, immutable' });
        await pipeline(createReadStream(file), res).catch((e: unknown) => ctx.logger.debug('image download ended early', { digest, error: describeError(e) }));
      },
    }),
  ];
}
