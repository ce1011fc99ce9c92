/**
 * Runs one of the project's services as its own process, as it is deployed (its entry point, BGC_* settings from
 * the environment), for tests: collects its log lines, resolves once `ready` says a line shows it is up (with the
 * URL the line names), and kills it if it never gets there. `stop()` is SIGTERM, `kill()` kill -9.
 */
import { spawn } from 'node:child_process';

export interface ServiceProcess extends AsyncDisposable {
  pid: number;
  /** the URL from the service's `"url":"…"` log line */
  url: string;
  logs: string[];
  /** SIGTERM; resolves with the exit code */
  stop(): Promise<number | null>;
  /** SIGKILL: no chance to flush or acknowledge anything */
  kill(): Promise<void>;
}

export async function startServiceProcess(opts: {
  name: string;
  entry: string;
  env: Record<string, string>;
  /** called with each log line, in order; true once the service is ready (after its URL line) */
  ready: (line: string) => boolean;
  timeoutMs?: number;
}): Promise<ServiceProcess> {
  const child = spawn(process.execPath, [opts.entry], {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let url: string | undefined;
  const ready = await new Promise<string>((resolve, reject) => {
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const timer = setTimeout(() => reject(new Error(`${opts.name} did not start:\n${logs.join('\n')}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        logs.push(line);
        url ??= /"url":"(http:\/\/[^"]+)"/.exec(line)?.[1];
        if (opts.ready(line) && url) {
          clearTimeout(timer);
          resolve(url);
        }
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then((code) => reject(new Error(`${opts.name} exited with ${code}:\n${logs.join('\n')}`)));
  }).catch((err: unknown) => {
    child.kill('SIGKILL'); // a service that did not start must not outlive the test
    throw err;
  });
  let stopped: Promise<number | null> | undefined;
  const stop = () => {
    stopped ??= (child.kill('SIGTERM'), exited);
    return stopped;
  };
  const kill = async () => {
    stopped ??= (child.kill('SIGKILL'), exited);
    await stopped;
  };
  return { pid: child.pid ?? 0, url: ready, logs, stop, kill, [Symbol.asyncDispose]: async () => void (await stop()) };
}
