/**
 * Polls `cond` every 10 ms until it holds; throws an Error naming `what` after `timeoutMs`.
 * For conditions that depend on real I/O (file events, child processes): poll with a deadline,
 * never sleep a guessed amount.
 */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
