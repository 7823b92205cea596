// Seeded random batches of store writes, and a model of what a store must read back after them:
// plain maps of the table keys, written the simplest way. Keys are reused on purpose (message
// ids, queue numbers, packet ids, whole sessions), so that puts over deletes, deletes of what a
// checkpoint already wrote, and sessions deleted and recreated within one window all occur.

import {
  numberKey, packetKey, parseNumberKey, queueKey, SESSION_TABLES, sessionRange, splitKey, subscriptionKey, TABLES, type Table,
} from '../../src/store/keys.js';
import type { StoreWrites } from '../../src/store/codec.js';
import type { StoredDelivery, StoredInflight, StoredMessage, StoredSession, StoredState, StoredSubscription } from '../../src/store/store.js';

export type Op = [keyof StoreWrites, ...unknown[]];

export function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const CLIENTS = ['a', 'ab', 'a b', 'c'];

/** An endless sequence of batches; the same seed gives the same batches. */
export function* randomBatches(seed: number): Generator<Op[]> {
  const rnd = random(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  let nextId = 1;
  const nextSeq = new Map<string, number>();
  for (let batch = 0; ; batch++) {
    // Mostly small batches, now and then a big one, so that some checkpoints take a while.
    const size = rnd() < 0.05 ? 300 + Math.floor(rnd() * 700) : 1 + Math.floor(rnd() * 12);
    const ops: Op[] = [];
    for (let i = 0; i < size; i++) {
      const c = pick(CLIENTS);
      const r = rnd();
      const id = rnd() < 0.8 ? nextId++ : 1 + Math.floor(rnd() * nextId);
      const someId = Math.max(1, nextId - 1 - Math.floor(rnd() * 40));
      const seq = (nextSeq.get(c) ?? 0) + 1;
      const delivery: StoredDelivery = { messageId: someId, qos: 1, retain: rnd() < 0.5 };
      if (r < 0.2) {
        ops.push(['putMessage', id, message(id, rnd)]);
      } else if (r < 0.35) {
        ops.push(['deleteMessage', someId]);
      } else if (r < 0.47) {
        nextSeq.set(c, seq);
        ops.push(['putQueued', c, rnd() < 0.9 ? seq : Math.max(1, seq - 5), delivery]);
      } else if (r < 0.57) {
        ops.push(['deleteQueued', c, Math.max(1, seq - Math.floor(rnd() * 8))]);
      } else if (r < 0.69) {
        const entry: StoredInflight = rnd() < 0.7 ? { awaiting: 'puback', delivery } : { awaiting: 'pubcomp' };
        ops.push(['putInflight', c, 1 + Math.floor(rnd() * 6), entry]);
      } else if (r < 0.79) {
        ops.push(['deleteInflight', c, 1 + Math.floor(rnd() * 6)]);
      } else if (r < 0.83) {
        ops.push([rnd() < 0.6 ? 'putAwaitingRelease' : 'deleteAwaitingRelease', c, 1 + Math.floor(rnd() * 4)]);
      } else if (r < 0.88) {
        ops.push(['putSession', session(c, rnd)]);
      } else if (r < 0.9) {
        // A session deleted and, often, recreated with its numbering starting again.
        ops.push(['deleteSession', c]);
        if (rnd() < 0.5) nextSeq.delete(c);
      } else if (r < 0.95) {
        const filter = pick(['t/#', 'x', '+/y']);
        const sub: StoredSubscription = { qos: 1, noLocal: rnd() < 0.5, retainAsPublished: false, retainHandling: 0, shared: false };
        ops.push(rnd() < 0.7 ? ['putSubscription', c, filter, sub] : ['deleteSubscription', c, filter]);
      } else {
        const topic = pick(['r/1', 'r/2', 'r/3']);
        ops.push(rnd() < 0.7 ? ['putRetained', topic, someId] : ['deleteRetained', topic]);
      }
    }
    yield ops;
  }
}

function message(id: number, rnd: () => number): StoredMessage {
  const m: StoredMessage = { topic: `t/${id % 7}`, payload: Buffer.alloc(1 + Math.floor(rnd() * 200), id & 0xff), qos: 1, retain: false, expiresAt: 0 };
  if (rnd() < 0.3) m.origin = 'pub';
  if (rnd() < 0.1) m.properties = { userProperties: [['k', String(id)]], correlationData: Buffer.from('c') };
  return m;
}

function session(clientId: string, rnd: () => number): StoredSession {
  return { clientId, protocolVersion: 4, expiryInterval: 3600, expiresAt: Math.floor(rnd() * 1e12), willAt: 0 };
}

export function apply(target: StoreWrites, ops: Op[]): void {
  for (const [name, ...args] of ops) (target[name] as (...a: unknown[]) => void).apply(target, args);
}

/** What a store must hold after the same writes, by table key. */
export class Model implements StoreWrites {
  private readonly t = new Map<Table, Map<string, unknown>>(TABLES.map((t) => [t, new Map()]));

  private set(table: Table, key: string, value: unknown): void {
    this.t.get(table)!.set(key, value);
  }

  private del(table: Table, key: string): void {
    this.t.get(table)!.delete(key);
  }

  putSession(s: StoredSession): void { this.set('sessions', s.clientId, s); }
  deleteSession(clientId: string): void {
    this.del('sessions', clientId);
    const { start, end } = sessionRange(clientId);
    for (const table of SESSION_TABLES) {
      for (const key of [...this.t.get(table)!.keys()]) if (key >= start && key < end) this.del(table, key);
    }
  }
  putSubscription(c: string, f: string, s: StoredSubscription): void { this.set('subscriptions', subscriptionKey(c, f), s); }
  deleteSubscription(c: string, f: string): void { this.del('subscriptions', subscriptionKey(c, f)); }
  putMessage(id: number, m: StoredMessage): void { this.set('messages', numberKey(id), m); }
  deleteMessage(id: number): void { this.del('messages', numberKey(id)); }
  putQueued(c: string, seq: number, d: StoredDelivery): void { this.set('queue', queueKey(c, seq), d); }
  deleteQueued(c: string, seq: number): void { this.del('queue', queueKey(c, seq)); }
  putInflight(c: string, id: number, e: StoredInflight): void { this.set('inflight', packetKey(c, id), e); }
  deleteInflight(c: string, id: number): void { this.del('inflight', packetKey(c, id)); }
  putAwaitingRelease(c: string, id: number): void { this.set('awaitingRelease', packetKey(c, id), 1); }
  deleteAwaitingRelease(c: string, id: number): void { this.del('awaitingRelease', packetKey(c, id)); }
  putRetained(topic: string, id: number): void { this.set('retained', topic, id); }
  deleteRetained(topic: string): void { this.del('retained', topic); }

  /** The state as Store.load() gives it. */
  state(): StoredState {
    const rows = (table: Table): [string, unknown][] =>
      [...this.t.get(table)!].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const per = <T>(table: Table, make: (c: string, rest: string, v: unknown) => T): T[] =>
      rows(table).map(([k, v]) => { const [c, rest] = splitKey(k); return make(c, rest, v); });
    return {
      sessions: rows('sessions').map(([, v]) => v as StoredSession),
      subscriptions: per('subscriptions', (clientId, filter, v) => ({ clientId, filter, subscription: v as StoredSubscription })),
      queued: per('queue', (clientId, s, v) => ({ clientId, seq: parseNumberKey(s), delivery: v as StoredDelivery })),
      inflight: per('inflight', (clientId, s, v) => ({ clientId, packetId: parseNumberKey(s), entry: v as StoredInflight })),
      awaitingRelease: per('awaitingRelease', (clientId, s) => ({ clientId, packetId: parseNumberKey(s) })),
      messages: new Map(rows('messages').map(([k, v]) => [parseNumberKey(k), v as StoredMessage])),
      retained: rows('retained').map(([topic, v]) => ({ topic, messageId: v as number })),
    };
  }
}
