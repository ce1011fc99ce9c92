/**
 * Stalls of the machine itself during a phase, so a latency tail can be told apart from the server's own: a worker
 * thread that does nothing but wake every 2 ms notes each wake-up that comes more than `thresholdMs` late.
 * The thread is idle, so a late wake-up means nothing could run it: both cores taken, or the virtual machine paused
 * by its host (on this machine such pauses of 100–200 ms came with idle cores and no steal time reported). Only the
 * bench's own process hosts it, so what it sees costs the services under test nothing.
 */
import { Worker } from 'node:worker_threads';

export interface Stalls {
  /** wake-ups later than the threshold */
  count: number;
  /** the longest gap between two wake-ups, ms */
  longestMs: number;
  /** each stall as wall-clock milliseconds (epoch): from the wake-up before it to the late one */
  intervals: { start: number; end: number }[];
}

const probe = `
const { parentPort, workerData } = require('node:worker_threads');
const gaps = [];
let last = performance.now();
const timer = setInterval(() => {
  const now = performance.now();
  if (now - last > workerData.thresholdMs) gaps.push([performance.timeOrigin + last, performance.timeOrigin + now]);
  last = now;
}, 2);
parentPort.on('message', () => {
  clearInterval(timer);
  parentPort.postMessage(gaps);
});
`;

/** Starts the probe; `stop()` ends it and says what it saw. */
export function startStallProbe(thresholdMs = 20): { stop(): Promise<Stalls> } {
  const worker = new Worker(probe, { eval: true, workerData: { thresholdMs } });
  return {
    async stop() {
      const gaps = await new Promise<[number, number][]>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
        worker.postMessage('stop');
      });
      await worker.terminate();
      return {
        count: gaps.length,
        longestMs: Math.max(0, ...gaps.map(([start, end]) => end - start)),
        intervals: gaps.map(([start, end]) => ({ start, end })),
      };
    },
  };
}
