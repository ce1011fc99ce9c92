/**
 * A projection's write (`projections.ts`) as a guarded script call on a batch: the same for the live projector, a
 * rebuild and the write API's write-through, so all three store identical bytes under identical guards.
 */
import type { Write } from './projections.ts';
import type { WriteBatch } from './scripts.ts';

export interface WriteSettings {
  /** lifetime of a document; each write draws it within ±10%, so documents written together do not expire together */
  documentTtlMs: number;
  /** lifetime of a deleted document's tombstone */
  tombstoneTtlMs: number;
  /** how many recent messages a room or conversation keeps */
  recentMessages: number;
}

export function queueWrite(batch: WriteBatch, w: Write, settings: WriteSettings): void {
  switch (w.op) {
    case 'putPart': {
      const ttlMs = Math.round(settings.documentTtlMs * (0.9 + Math.random() * 0.2));
      batch.putPart(w.key, w.versionField, w.payloadField, w.version, w.json, ttlMs);
      return;
    }
    case 'dropPart':
      batch.hdel(w.key, w.versionField, w.payloadField);
      return;
    case 'deleteDocument':
      batch.deleteDocument(w.key, settings.tombstoneTtlMs);
      return;
    case 'setMember':
      batch.setMember(w.key, w.member, w.sequence, w.value);
      return;
    case 'addMessage':
      batch.addMessage(w.recent, w.bodies, w.id, w.score, w.version, w.json, settings.recentMessages, w.edit);
      return;
    case 'deleteMessage':
      batch.deleteMessage(w.recent, w.bodies, w.id);
      return;
    case 'rankPut':
      batch.rankPut(w.list, w.bodies, w.lease, w.id, w.score, w.version, w.json, w.cap);
      return;
    case 'rankDelete':
      batch.rankDelete(w.list, w.bodies, w.lease, w.id);
      return;
  }
}
