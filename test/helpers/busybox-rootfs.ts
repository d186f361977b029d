/**
 * A small image root filesystem for image-base machines, as the host image store would hand it to
 * the sandbox driver (SandboxDriverOptions.rootfs): busybox-static with its applets, its own
 * /etc/passwd and /etc/group (root, app 1001:1001 with HOME /home/app, group staff 50), and a web
 * server that runs shell commands on request — busybox httpd with one CGI script — so a test can
 * look around inside over HTTP. Every file's owner is shifted by the app's first host uid, once
 * per shift, as the store does.
 *
 *   GET /cgi-bin/run?<url-encoded shell command>  →  its stdout and stderr, then `status=<n>`
 */
import { chmodSync, copyFileSync, existsSync, lchownSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';

export const BUSYBOX = '/usr/bin/busybox';
export const IMAGE_APP = { uid: 1001, gid: 1001, home: '/home/app' } as const;
export const STAFF_GID = 50;
/** A marker only the image's /etc/passwd has. */
export const IMAGE_MARKER = 'starling-test-image';
/** The command an image machine runs: notes its cwd in /tmp/start-cwd, then httpd in the foreground on $PORT. */
export const HTTPD_CMD = ['/bin/sh', '-c', 'pwd > /tmp/start-cwd; exec httpd -f -p "$PORT" -h /www'];

const APPLETS = ['sh', 'id', 'cat', 'ls', 'echo', 'pwd', 'touch', 'test', 'stat', 'grep', 'httpd', 'sleep', 'stty', 'tty', 'hostname', 'mkdir', 'rm', 'env', 'printf', 'wc'];

const CGI = `#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
cmd=$(httpd -d "$QUERY_STRING")
sh -c "$cmd" 2>&1
echo "status=$?"
`;

/** Writes the unshifted tree into `dir` (which must not exist). */
function writeTree(dir: string): void {
  for (const d of ['bin', 'etc', 'home/app', 'root', 'www/cgi-bin', 'srv/work']) mkdirSync(join(dir, d), { recursive: true, mode: 0o755 });
  copyFileSync(BUSYBOX, join(dir, 'bin', 'busybox'));
  chmodSync(join(dir, 'bin', 'busybox'), 0o755);
  for (const a of APPLETS) symlinkSync('busybox', join(dir, 'bin', a));
  writeFileSync(join(dir, 'etc', 'passwd'), `root:x:0:0:root:/root:/bin/sh\napp:x:${IMAGE_APP.uid}:${IMAGE_APP.gid}:${IMAGE_MARKER}:${IMAGE_APP.home}:/bin/sh\n`);
  writeFileSync(join(dir, 'etc', 'group'), `root:x:0:\napp:x:${IMAGE_APP.gid}:\nstaff:x:${STAFF_GID}:app\n`);
  writeFileSync(join(dir, 'www', 'cgi-bin', 'run'), CGI, { mode: 0o755 });
  writeFileSync(join(dir, 'www', 'index.html'), 'ok\n');
  for (const f of ['etc/passwd', 'etc/group', 'www/index.html']) chmodSync(join(dir, f), 0o644);
  chmodSync(join(dir, 'www', 'cgi-bin', 'run'), 0o755);
  chmodSync(join(dir, 'root'), 0o700);
}

/** lchown of every entry: image owner + shift (the app's home to the image's app user). */
function shiftOwners(dir: string, shift: number): void {
  const walk = (p: string, rel: string): void => {
    const own = rel === 'home/app' || rel.startsWith('home/app/') ? IMAGE_APP : { uid: 0, gid: 0 };
    lchownSync(p, own.uid + shift, own.gid + shift);
    if (lstatSync(p).isDirectory()) for (const n of readdirSync(p)) walk(join(p, n), rel ? `${rel}/${n}` : n);
  };
  walk(dir, '');
}

/**
 * The SandboxDriverOptions.rootfs of the tests: `<store>/<shift>/`, made once per shift (by rename
 * of a complete tree). `calls` records each (digest, shift) asked for.
 */
export function busyboxRootfs(store: string): { rootfs: (image: { digest: string }, shift: number) => Promise<string>; calls: [string, number][] } {
  const calls: [string, number][] = [];
  mkdirSync(store, { recursive: true, mode: 0o711 });
  return {
    calls,
    rootfs: (image, shift) => {
      calls.push([image.digest, shift]);
      const dir = join(store, String(shift));
      if (!existsSync(dir)) {
        const tmp = `${dir}.tmp-${process.pid}`;
        rmSync(tmp, { recursive: true, force: true });
        writeTree(tmp);
        shiftOwners(tmp, shift);
        renameSync(tmp, dir);
      }
      return Promise.resolve(dir);
    },
  };
}

/** Runs `cmd` in the image machine's shell over HTTP; its output and exit status. */
export function runIn(address: string, cmd: string, port = 8080, timeoutMs = 5000): Promise<{ out: string; status: number }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: address, port, path: `/cgi-bin/run?${encodeURIComponent(cmd)}`, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => {
        const m = /(?:^|\n)status=(\d+)\n?$/.exec(body);
        if (!m) return reject(new Error(`no status in ${JSON.stringify(body.slice(0, 300))}`));
        resolve({ out: body.slice(0, m.index), status: Number(m[1]) });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${cmd} timed out`)));
    req.on('error', reject);
    req.end();
  });
}
