/**
 * Consumers of the CDC topics may start before the CDC service, which creates the topics at its start: they wait
 * until every topic exists and each of its partitions has a leader (a topic just created may not have one yet, and
 * a subscription to it would fail with "does not host this topic-partition").
 */
import type { Admin } from 'kafkajs';

export async function waitForTopics(
  admin: Admin,
  topics: string[],
  opts: { signal: AbortSignal; onMissing: (missing: string[]) => void; pollMs?: number },
): Promise<void> {
  let told = false;
  for (;;) {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t));
    if (missing.length === 0) {
      const ready = await admin.fetchTopicMetadata({ topics }).then(
        (m) => m.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0)),
        () => false,
      );
      if (ready) return;
    } else if (!told) {
      opts.onMissing(missing);
      told = true;
    }
    if (opts.signal.aborted) throw new Error('stopped while waiting for topics');
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 500));
  }
}
