/**
 * Operators' commands for the cache projector:
 *
 *   node services/cache-projector/src/operations-cli.ts replay --table users --from 2026-11-28T10:00:00Z
 *   node services/cache-projector/src/operations-cli.ts dead-letters            (list them)
 *   node services/cache-projector/src/operations-cli.ts requeue                 (send the new ones back)
 *   node services/cache-projector/src/operations-cli.ts rebuild [--dry-run | --resume | --abort] [--feeds]
 *                                                       [--rate EVENTS/S] [--grace-ms MS] [--chunk EVENTS]
 *
 * replay moves the projector's group (BGC_PROJECTOR_GROUP) back on one topic; it refuses while the projector runs.
 * rebuild fills a new key generation from the topics while the projector runs, then switches readers to it
 * (`rebuild.ts`); with --feeds it then drops the home feeds (BGC_FEED_KEY_PREFIX), each rebuilt from the replica
 * by the feed builder when its owner next reads it (`rebuild-cli.ts`). Exit codes: 0 done, 1 failed, 2 refused (the message says why and what to do), 130 interrupted.
 */
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { loadEnvOrExit } from '@bgc/config/env';
import { tableTopic } from '@bgc/events/topics';
import { projectorEnv } from './config.ts';
import { listDeadLetters, OperationRefused, replayFrom, requeueDeadLetters } from './operations.ts';
import { rebuildCommand } from './rebuild-cli.ts';

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    table: { type: 'string' },
    from: { type: 'string' },
    max: { type: 'string', default: '1000' },
    'dry-run': { type: 'boolean' },
    resume: { type: 'boolean' },
    abort: { type: 'boolean' },
    rate: { type: 'string' },
    'grace-ms': { type: 'string' },
    chunk: { type: 'string' },
    feeds: { type: 'boolean' },
  },
});
const config = loadEnvOrExit(projectorEnv);
const kafka = new Kafka({ brokers: config.KAFKA_BROKERS, clientId: 'bgc-projector-ops', logLevel: logLevel.WARN });
const out = (line: string) => process.stdout.write(`${line}\n`);

try {
  switch (positionals[0]) {
    case 'replay': {
      const fromMs = Date.parse(args.from ?? '');
      if (!args.table || Number.isNaN(fromMs)) {
        throw new OperationRefused(
          'USAGE',
          'replay needs --table <table> and --from <ISO time, e.g. 2026-11-28T10:00:00Z>',
        );
      }
      const topic = tableTopic(config.PROJECTOR_TOPIC_PREFIX, 'public', args.table);
      const partitions = await replayFrom(kafka, { group: config.PROJECTOR_GROUP, topic, fromMs });
      out(
        `group ${config.PROJECTOR_GROUP} on ${topic} now at ${partitions.map((p) => `${p.partition}:${p.offset}`).join(' ')}`,
      );
      out('start the cache projector: it replays from there');
      break;
    }
    case 'dead-letters': {
      const letters = await listDeadLetters(kafka, config.PROJECTOR_TOPIC_PREFIX, Number(args.max));
      for (const l of letters) {
        out(`#${l.offset} from ${l.source.topic}[${l.source.partition}]@${l.source.offset} key ${l.key}: ${l.error}`);
      }
      out(`${letters.length} dead letter(s)`);
      break;
    }
    case 'requeue': {
      const letters = await requeueDeadLetters(kafka, config.PROJECTOR_TOPIC_PREFIX, Number(args.max));
      out(`${letters.length} dead letter(s) sent back to their topics`);
      break;
    }
    case 'rebuild':
      await rebuildCommand(config, kafka, args);
      break;
    default:
      throw new OperationRefused(
        'USAGE',
        'commands: replay --table T --from TIME | dead-letters | requeue | rebuild [--dry-run|--resume|--abort] [--feeds]',
      );
  }
} catch (err) {
  process.stderr.write(
    `${err instanceof OperationRefused ? err.code : 'FAILED'}: ${err instanceof Error ? err.message : String(err)}\n`,
  );
  process.exitCode = err instanceof OperationRefused ? 2 : 1;
}
