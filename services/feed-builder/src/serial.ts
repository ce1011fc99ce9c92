/**
 * One task at a time, in the order asked: the consumer's chunks and the rebuilds take turns, so that no decision
 * read from the database before another's can be written after it (`service.ts`).
 */
export class Serial {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(task, task);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}
