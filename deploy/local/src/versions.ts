/** Versions of what the stack runs that are decided here rather than by apt (docker-compose.yml must agree). */
import fs from 'node:fs';
import path from 'node:path';
import { CONFIG_DIR } from './settings.ts';

export const POSTGRES_MAJOR = 15;

/**
 * Jaeger's Go module: only v1.76.0 (the same commit as the v2.13.0 release) is installable from the module proxy;
 * later v2 tags have no /v2 module path.
 */
export const JAEGER_MODULE_VERSION = 'v1.76.0';
export const JAEGER_RELEASE = '2.13.0';

/** The Kafka broker version, pinned once in the Maven POM that fetches its jars. */
export function kafkaVersion(): string {
  const pom = path.join(CONFIG_DIR, 'kafka', 'pom.xml');
  const m = /<kafka\.version>([^<]+)</.exec(fs.readFileSync(pom, 'utf8'));
  if (!m?.[1]) throw new Error(`no <kafka.version> in ${pom}`);
  return m[1];
}
