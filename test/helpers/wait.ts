/**
 * Polls `cond` every `everyMs` (10) until it holds; throws an Error naming `what` after `timeoutMs`.
 * For conditions that depend on real I/O (file events, child processes): poll with a deadline,
 * never sleep a guessed amount. The deadline only bounds a failure, it asserts no speed: the suite
 * runs two files at a time beside the lab, so the default (30 s) leaves a loaded machine room.
 */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 30_000,
  everyMs = 10,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
