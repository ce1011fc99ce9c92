/**
 * Every service is a `Service`: `run()` resolves when it has stopped (or rejects when it failed), `stop()` asks it to
 * finish what is in flight and stop. `runService()` wires it to the process: SIGTERM/SIGINT stop it gracefully, a
 * second signal or the grace period forces the exit, and the exit code says what happened.
 */
export interface Service {
  readonly name: string;
  run(): Promise<void>;
  stop(): Promise<void>;
}

export const EXIT = { ok: 0, failed: 1, config: 78, forced: 130 } as const;

export async function runService(service: Service, opts: { graceMs?: number; log?: (msg: string) => void } = {}) {
  const log = opts.log ?? ((msg: string) => process.stderr.write(`${msg}\n`));
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log(`${service.name}: second ${signal}, exiting now`);
      process.exit(EXIT.forced);
    }
    stopping = true;
    log(`${service.name}: ${signal}, stopping`);
    setTimeout(() => {
      log(`${service.name}: did not stop within ${opts.graceMs ?? 15_000} ms, exiting`);
      process.exit(EXIT.forced);
    }, opts.graceMs ?? 15_000).unref();
    service.stop().catch((err: unknown) => log(`${service.name}: stop failed: ${String(err)}`));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    await service.run();
    process.exitCode = EXIT.ok;
  } catch (err) {
    log(`${service.name}: failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exitCode = EXIT.failed;
  }
}
