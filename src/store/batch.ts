// A batch of writes on its way into the journal, and who waits for it to be durable.

import type { Committed } from './store.js';

/**
 * The writes that go into the next append, and who waits for them. An acknowledgement waits for
 * every QoS 1/2 PUBLISH: its callbacks are kept in a list and called in order, which costs less
 * than a promise reaction each.
 */
export class Batch implements Committed {
  private oks: (() => void)[] = [];
  private fails: ((err: unknown) => void)[] = [];
  private outcome: { err: unknown } | null | undefined;
  private p: Promise<void> | undefined;
  /** Whether the store was asked if it is full, and its answer: puts of a refused batch are dropped. */
  checked = false;
  refusal: Error | undefined;

  then(ok: () => void, failed?: (err: unknown) => void): void {
    const outcome = this.outcome;
    if (outcome === undefined) {
      this.oks.push(ok);
      this.fails.push(failed ?? ignore);
    } else if (outcome === null) queueMicrotask(ok);
    else if (failed !== undefined) queueMicrotask(() => failed(outcome.err));
  }

  /** A promise, for the Store interface; made only when asked for. */
  get promise(): Promise<void> {
    if (this.p === undefined) {
      this.p = new Promise<void>((resolve, reject) => this.then(resolve, reject));
      // A failed batch may have no one waiting on it: that must not be an unhandled rejection.
      this.p.catch(ignore);
    }
    return this.p;
  }

  resolve(): void {
    this.outcome = null;
    settle(this.oks, undefined);
    this.oks = this.fails = [];
  }

  reject(err: unknown): void {
    this.outcome = { err };
    settle(this.fails, err);
    this.oks = this.fails = [];
  }
}

function ignore(): void {}

/** Calls each in order; one that throws does not keep the others from running, and its error is rethrown apart. */
function settle(callbacks: ((err: unknown) => void)[], err: unknown): void {
  for (const f of callbacks) {
    try {
      f(err);
    } catch (thrown) {
      queueMicrotask(() => { throw thrown; });
    }
  }
}
