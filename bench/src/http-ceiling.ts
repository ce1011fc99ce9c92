/**
 * The HTTP ceiling of this machine for an open-loop benchmark: a bare `node:http` server (no framework, no
 * instrumentation, no I/O) answering every request with the same body, attacked by vegeta at the same rate and for
 * as long as the service under test. What the service adds on top of it is its own; what this already misses, no
 * Node HTTP service on the machine can meet.
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import type { VegetaReport } from './vegeta.ts';
import { attack, writeTargets } from './vegeta.ts';

const SERVER = `
const http = require('node:http');
const body = Buffer.alloc(Number(process.argv[1]), 'x');
const server = http.createServer({ keepAliveTimeout: 65000 }, (req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
`;

/** One vegeta phase against a bare server answering `bodyBytes` bytes. */
export async function bareHttpCeiling(
  bin: string,
  rate: number,
  seconds: number,
  bodyBytes: number,
): Promise<VegetaReport> {
  const child = spawn(process.execPath, ['-e', SERVER, String(bodyBytes)], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<string>((resolve, reject) => {
      child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()));
      child.once('exit', (code) => reject(new Error(`the bare HTTP server exited with ${code}`)));
    });
    const targets = path.join(os.tmpdir(), `bgc-http-ceiling-${port}.jsonl`);
    writeTargets(targets, [
      { method: 'GET', url: `http://127.0.0.1:${port}/v1/users/ceiling`, header: { Accept: ['application/json'] } },
    ]);
    // the same connection ramp-up as the measured phase gets from its warm-up
    await attack(bin, targets, rate, 3);
    return await attack(bin, targets, rate, seconds);
  } finally {
    child.kill();
  }
}
