/**
 * Apache Kafka in KRaft mode (one combined broker+controller), run with `java` from the broker's jars on Maven
 * Central; the version is pinned in config/kafka/pom.xml.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { LOCAL_PORTS } from '@bgc/config/local-stack';
import type { Health } from '../component.ts';
import { StackError } from '../errors.ts';
import { buildOnce } from '../install.ts';
import { exec, render } from '../proc.ts';
import { withProgress } from '../progress.ts';
import { CACHE_DIR, CONFIG_DIR, STATE_DIR } from '../settings.ts';
import { kafkaVersion } from '../versions.ts';
import { DaemonComponent } from './daemon.ts';

const dir = path.join(STATE_DIR, 'kafka');
const pom = path.join(CONFIG_DIR, 'kafka', 'pom.xml');

const libsDir = () => path.join(CACHE_DIR, `kafka-${kafkaVersion()}`);

export class KafkaBroker extends DaemonComponent {
  readonly name = 'kafka';
  readonly port = LOCAL_PORTS.kafka;
  readonly after = [];
  readonly apt = [
    { bin: 'java', pkg: 'openjdk-17-jre-headless' },
    { bin: 'mvn', pkg: 'maven' },
  ];
  protected override startTimeoutMs = 90_000;

  /** The broker's runtime jars, resolved by Maven once per version and kept in the cache. */
  async prepare(): Promise<void> {
    const target = libsDir();
    if (fs.existsSync(path.join(target, '.complete'))) return;
    await withProgress(`kafka-jars-${kafkaVersion()}`, `Kafka ${kafkaVersion()} jars (Maven)`, 60_000, () =>
      buildOnce(target, async (partial) => {
        const r = await exec(
          'mvn',
          ['-B', '-q', '-f', pom, 'dependency:copy-dependencies'].concat([
            '-DincludeScope=runtime',
            `-DoutputDirectory=${partial}`,
          ]),
        );
        if (r.code !== 0) {
          throw new StackError({
            code: 'KAFKA_JARS_FAILED',
            component: this.name,
            message: `Maven could not resolve the broker's jars: ${(r.stdout + r.stderr).trim().split('\n').slice(-5).join(' | ')}`,
            fix: 'check that Maven Central is reachable (mvn -B dependency:get -Dartifact=org.apache.kafka:kafka_2.13:<version>)',
          });
        }
      }),
    );
  }

  private java(mainClass: string, args: string[]) {
    return {
      cmd: 'java',
      args: [
        '-Xms512m',
        '-Xmx1g',
        '-XX:+UseG1GC',
        '-XX:MaxGCPauseMillis=20',
        '-XX:+ExitOnOutOfMemoryError',
        '-Djava.awt.headless=true',
        `-Dlog4j2.configurationFile=${path.join(dir, 'log4j2.properties')}`,
        `-Dkafka.logs.dir=${path.join(dir, 'logs')}`,
        '-cp',
        `${libsDir()}/*`,
        mainClass,
        ...args,
      ],
    };
  }

  protected program() {
    return { ...this.java('kafka.Kafka', [path.join(dir, 'server.properties')]), match: 'kafka.Kafka' };
  }

  protected async configure(): Promise<void> {
    fs.mkdirSync(path.join(dir, 'data'), { recursive: true });
    const vars = { PORT: this.port, CONTROLLER_PORT: LOCAL_PORTS.kafkaController, STATE_DIR: dir };
    const properties = path.join(dir, 'server.properties');
    fs.writeFileSync(
      properties,
      render(fs.readFileSync(path.join(CONFIG_DIR, 'kafka', 'server.properties'), 'utf8'), vars),
    );
    fs.copyFileSync(path.join(CONFIG_DIR, 'kafka', 'log4j2.properties'), path.join(dir, 'log4j2.properties'));
    if (fs.existsSync(path.join(dir, 'data', 'meta.properties'))) return;
    // a KRaft log directory must be formatted once with a cluster id (16 random bytes, base64url)
    const clusterId = crypto.randomBytes(16).toString('base64url');
    const { cmd, args } = this.java('kafka.tools.StorageTool', ['format', '-t', clusterId, '-c', properties]);
    const r = await exec(cmd, [...args, '--ignore-formatted']);
    if (r.code !== 0) {
      throw new StackError({
        code: 'KAFKA_FORMAT_FAILED',
        component: this.name,
        message: `formatting the KRaft log directory failed: ${(r.stdout + r.stderr).trim()}`,
        fix: './bgc stack reset, then ./bgc stack up',
      });
    }
  }

  async health(): Promise<Health> {
    const admin = new Kafka({
      brokers: [this.address],
      clientId: 'bgc-stack-health',
      logLevel: logLevel.NOTHING,
      connectionTimeout: 1500,
      retry: { retries: 0 },
    }).admin();
    try {
      await admin.connect();
      const cluster = await admin.describeCluster();
      return {
        ok: cluster.brokers.length > 0 && cluster.controller !== null,
        detail: `Kafka ${kafkaVersion()} (KRaft), cluster ${cluster.clusterId}`,
      };
    } catch (err) {
      return { ok: false, detail: (err as Error).message };
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }
}
