// The Store over a table backend: domain writes become table operations (keys from keys.ts),
// collected per event-loop turn and handed to the backend as one atomic batch. Reading the
// state back at start is done here too, so every backend behaves the same.

import {
  numberKey, packetKey, parseNumberKey, queueKey, SESSION_TABLES, sessionRange, splitKey, subscriptionKey, TABLES,
  type Table,
} from './keys.js';
import type {
  Store, StoredDelivery, StoredInflight, StoredMessage, StoredSession, StoredState, StoredSubscription,
} from './store.js';

export type Op =
  | { table: Table; key: string; value: unknown }
  | { table: Table; key: string; value: undefined }
  | { table: Table; range: { start: string; end: string } };

/** Where the tables live. */
export interface Backend {
  readonly kind: 'memory' | 'lmdb';
  /** Applies the operations in one atomic transaction; resolves once durable as configured. */
  write(ops: Op[]): Promise<void>;
  /** Every entry of a table, in key order. */
  read(table: Table): Promise<[string, unknown][]>;
  close(): Promise<void>;
}

interface Batch {
  ops: Op[];
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

function newBatch(): Batch {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
  // A failed batch may have no one waiting on it: that must not be an unhandled rejection.
  promise.catch(() => undefined);
  return { ops: [], promise, resolve, reject };
}

export class TableStore implements Store {
  readonly kind: 'memory' | 'lmdb';
  private batch: Batch = newBatch();
  private scheduled = false;
  /** The batch handed to the backend most recently: commit() waits for it when nothing is pending. */
  private lastWritten: Promise<void> = Promise.resolve();

  constructor(private readonly backend: Backend, private readonly onError: (err: unknown) => void = () => undefined) {
    this.kind = backend.kind;
  }

  get dirty(): boolean {
    return this.batch.ops.length > 0;
  }

  private op(op: Op): void {
    this.batch.ops.push(op);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  /** Hands this turn's operations to the backend as one transaction. */
  private readonly flush = (): void => {
    this.scheduled = false;
    const batch = this.batch;
    this.batch = newBatch();
    if (batch.ops.length === 0) {
      batch.resolve();
      return;
    }
    const previous = this.lastWritten;
    const written = this.backend.write(batch.ops);
    // Commits finish in order: a batch counts as durable only once the ones before it are.
    this.lastWritten = written.then(() => previous).catch(() => undefined);
    written.then(() => previous.then(batch.resolve), (err: unknown) => {
      this.onError(err);
      batch.reject(err);
    });
  };

  commit(): Promise<void> {
    return this.batch.ops.length > 0 ? this.batch.promise : this.lastWritten;
  }

  putSession(session: StoredSession): void {
    this.op({ table: 'sessions', key: session.clientId, value: session });
  }

  deleteSession(clientId: string): void {
    this.op({ table: 'sessions', key: clientId, value: undefined });
    for (const table of SESSION_TABLES) this.op({ table, range: sessionRange(clientId) });
  }

  putSubscription(clientId: string, filter: string, subscription: StoredSubscription): void {
    this.op({ table: 'subscriptions', key: subscriptionKey(clientId, filter), value: subscription });
  }

  deleteSubscription(clientId: string, filter: string): void {
    this.op({ table: 'subscriptions', key: subscriptionKey(clientId, filter), value: undefined });
  }

  putMessage(id: number, message: StoredMessage): void {
    this.op({ table: 'messages', key: numberKey(id), value: message });
  }

  deleteMessage(id: number): void {
    this.op({ table: 'messages', key: numberKey(id), value: undefined });
  }

  putQueued(clientId: string, seq: number, delivery: StoredDelivery): void {
    this.op({ table: 'queue', key: queueKey(clientId, seq), value: delivery });
  }

  deleteQueued(clientId: string, seq: number): void {
    this.op({ table: 'queue', key: queueKey(clientId, seq), value: undefined });
  }

  putInflight(clientId: string, packetId: number, entry: StoredInflight): void {
    this.op({ table: 'inflight', key: packetKey(clientId, packetId), value: entry });
  }

  deleteInflight(clientId: string, packetId: number): void {
    this.op({ table: 'inflight', key: packetKey(clientId, packetId), value: undefined });
  }

  putAwaitingRelease(clientId: string, packetId: number): void {
    this.op({ table: 'awaitingRelease', key: packetKey(clientId, packetId), value: 1 });
  }

  deleteAwaitingRelease(clientId: string, packetId: number): void {
    this.op({ table: 'awaitingRelease', key: packetKey(clientId, packetId), value: undefined });
  }

  putRetained(topic: string, messageId: number): void {
    this.op({ table: 'retained', key: topic, value: messageId });
  }

  deleteRetained(topic: string): void {
    this.op({ table: 'retained', key: topic, value: undefined });
  }

  async load(): Promise<StoredState> {
    const t = Object.fromEntries(await Promise.all(TABLES.map(async (table) => [table, await this.backend.read(table)]))) as
      Record<Table, [string, unknown][]>;
    const perSession = <T>(table: Table, make: (clientId: string, rest: string, value: unknown) => T): T[] =>
      t[table].map(([key, value]) => {
        const [clientId, rest] = splitKey(key);
        return make(clientId, rest, value);
      });
    return {
      sessions: t.sessions.map(([, v]) => v as StoredSession),
      subscriptions: perSession('subscriptions', (clientId, filter, v) => ({ clientId, filter, subscription: v as StoredSubscription })),
      queued: perSession('queue', (clientId, seq, v) => ({ clientId, seq: parseNumberKey(seq), delivery: v as StoredDelivery })),
      inflight: perSession('inflight', (clientId, id, v) => ({ clientId, packetId: parseNumberKey(id), entry: v as StoredInflight })),
      awaitingRelease: perSession('awaitingRelease', (clientId, id) => ({ clientId, packetId: parseNumberKey(id) })),
      messages: new Map(t.messages.map(([k, v]) => [parseNumberKey(k), v as StoredMessage])),
      retained: t.retained.map(([topic, v]) => ({ topic, messageId: v as number })),
    };
  }

  async close(): Promise<void> {
    if (this.scheduled) this.flush();
    await this.lastWritten;
    await this.backend.close();
  }
}
