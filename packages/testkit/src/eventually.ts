/**
 * Polls `probe` until it returns a value (anything but undefined) and resolves with it; fails naming `what` when
 * `timeoutMs` passes first. For tests that wait on an asynchronous pipeline (a scrape, a consumer catching up).
 */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  { timeoutMs = 30_000, intervalMs = 200 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
