/**
 * A small Redis Cluster for tests: three masters from Debian's redis-server on free local ports, in a temporary
 * directory; dispose stops them and removes it.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';

const run = promisify(execFile);

async function freePort(): Promise<number> {
  // below Linux's ephemeral range (32768+), where an outgoing connection could hold it, and below the stack's ports
  for (;;) {
    const port = 17000 + Math.floor(Math.random() * 5000);
    const free = await new Promise<boolean>((resolve) => {
      const server = net.createServer().once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

export interface TestCluster extends AsyncDisposable {
  nodes: { host: string; port: number }[];
}

export async function startRedisCluster(masters = 3): Promise<TestCluster> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bgc-redis-cluster-'));
  const processes: ChildProcess[] = [];
  const nodes: { host: string; port: number }[] = [];
  const stop = async () => {
    for (const p of processes) p.kill('SIGKILL');
    await Promise.all(processes.map((p) => new Promise((r) => (p.exitCode !== null ? r(null) : p.once('exit', r)))));
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters; i++) {
      const port = await freePort();
      // the cluster bus defaults to port + 10000, inside the ephemeral range: give it a free port of its own
      const busPort = await freePort();
      const args = ['--port', String(port), '--cluster-port', String(busPort), '--bind', '127.0.0.1'];
      args.push('--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--dir', dir);
      args.push('--save', '', '--appendonly', 'no');
      const server = spawn('/usr/bin/redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      server.stdout.on('data', (d: Buffer) => (output += d.toString()));
      server.stderr.on('data', (d: Buffer) => (output += d.toString()));
      server.once('exit', (code) => {
        if (code !== null) process.stderr.write(`redis-server :${port} exited with ${code}:\n${output}\n`);
      });
      processes.push(server);
      nodes.push({ host: '127.0.0.1', port });
    }
    for (const { port } of nodes) {
      const client = new Redis({ port, lazyConnect: true, retryStrategy: () => 100, maxRetriesPerRequest: 50 });
      await client.ping();
      client.disconnect();
    }
    await run('/usr/bin/redis-cli', [
      '--cluster',
      'create',
      ...nodes.map((n) => `${n.host}:${n.port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    const deadline = Date.now() + 20_000;
    for (const { port } of nodes) {
      const client = new Redis({ port });
      try {
        while (!/cluster_state:ok/.test(await client.cluster('INFO'))) {
          if (Date.now() > deadline) throw new Error(`the cluster did not become ready (node ${port})`);
          await new Promise((r) => setTimeout(r, 100));
        }
      } finally {
        client.disconnect();
      }
    }
    return { nodes, [Symbol.asyncDispose]: stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
