/**
 * The lab for a normal user: every lab command re-runs itself inside the lab's user-namespace holder
 * (userns.ts: `unshare -Urnm --pid` with a tmpfs on /run), where it is root over the holder's
 * namespaces and nothing else. One holder per lab, recorded in `<runtime dir>/starling-lab-<uid>/<lab>`;
 * `lab up` starts it, `lab down` tears the lab down inside it and then stops it (its death takes
 * whatever might be left with it).
 */
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { rmdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { StarlingError, type Clock } from '../shared/index.js';
import { CLI_MAIN, DEFAULT_LAB, labDir } from './lab-context.js';
import { STATE_FILE } from './lab-state.js';
import { inUserNamespace, isRoot, readUserNamespaceHolder, runCommand, startUserNamespaceHolder, stopUserNamespaceHolder, userNamespaceCommand } from './userns.js';

/** Where a normal user's holder of lab `name` is recorded. */
export function holderDir(name: string): string {
  const base = process.env.XDG_RUNTIME_DIR || tmpdir();
  return join(base, `starling-lab-${process.getuid?.() ?? 'user'}`, name);
}

/** Whether lab commands run here as they are (root, or already inside a holder). */
export function runsDirectly(): boolean {
  return isRoot() || inUserNamespace();
}

/**
 * Runs this very command (`process.argv`) inside the holder of lab `name` and resolves with its exit
 * status. `start`: start the holder when there is none (lab up); otherwise a missing holder means
 * the lab is not up (ERR_LAB_NOT_FOUND).
 */
export async function rerunInHolder(name: string, o: { start: boolean; clock?: Clock }): Promise<number> {
  const dir = holderDir(name);
  let holder = readUserNamespaceHolder(dir);
  if (!holder) {
    if (!o.start) {
      throw new StarlingError('ERR_LAB_NOT_FOUND', `there is no lab "${name}" for this user (no user-namespace holder recorded in ${dir})`, {
        fault: 'user',
        hint: name === DEFAULT_LAB ? 'start one with: starling lab up' : `start it with: starling lab up --name ${name}`,
      });
    }
    holder = await startUserNamespaceHolder(dir, { clock: o.clock });
  }
  const argv = userNamespaceCommand(holder.pid, [process.execPath, CLI_MAIN, ...process.argv.slice(2)]);
  const [cmd = '', ...args] = argv;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: 'inherit' });
    // Ctrl-C reaches the child through the terminal; do not die before it has cleaned up.
    const ignore = (): void => undefined;
    process.on('SIGINT', ignore);
    child.on('error', (e) => reject(new StarlingError('ERR_LAB_USERNS', `cannot enter the lab's user namespace: ${e.message}`, { hint: 'nsenter is in util-linux' })));
    child.on('close', (code, signal) => {
      process.off('SIGINT', ignore);
      resolve(code ?? (signal ? 128 + 2 : 1));
    });
  });
}

/** Stops the holder of lab `name` (and everything still inside it); false when there was none. */
export async function stopHolder(name: string, clock?: Clock): Promise<boolean> {
  const stopped = await stopUserNamespaceHolder(holderDir(name), { clock });
  for (const d of [holderDir(name), dirname(holderDir(name))]) {
    try {
      rmdirSync(d); // only when empty
    } catch {
      break;
    }
  }
  return stopped;
}

/** Whether the holder of lab `name` holds that lab's state (after a failed `lab up`, it does not). */
export async function holderHasLab(name: string): Promise<boolean> {
  const holder = readUserNamespaceHolder(holderDir(name));
  if (!holder) return false;
  return runCommand(userNamespaceCommand(holder.pid, ['test', '-e', join(labDir(name), STATE_FILE)], '/')).then(
    () => true,
    () => false,
  );
}
