// The net changes since the last checkpoint, in memory: for each table and key its latest value
// or its deletion, and the deletions of ended sessions. A checkpoint writes them to the tables;
// on start, replaying the journal rebuilds them. A key that was created and deleted inside one
// window leaves no trace at all: most messages to a subscriber that is online are stored, sent,
// acknowledged and deleted well within a window, and never reach the tables.
//
// To drop such a key, the overlay must know the tables never had it: TableIndex keeps just
// enough of what the tables hold for that (see there). Where it cannot tell, a deletion stays
// as a tombstone and the checkpoint deletes the key from its table, which is always correct.
// The index changes only when a window is sealed, so within one window the answer for a key
// never changes, and need not be kept with it.
//
// Per-session records are kept per client, then by number (or filter), not by their table key:
// this runs several times for every stored message, and building and hashing key strings costs
// more. Consecutive writes are mostly for one client (a subscriber's window), which is cached.
// Plain Maps: under this churn they rehash into fresh, young backing stores, so the garbage
// collector never sees old objects pointing at the young values (a long-lived slot array of
// the same values was measured to spend a fifth of the time in the collector).

import { numberKey, packetKey, parseNumberKey, queueKey, sessionRange, splitKey, subscriptionKey, type Table } from './keys.js';
import type { StoreWrites } from './codec.js';
import type { StoredDelivery, StoredInflight, StoredMessage, StoredSession, StoredSubscription } from './store.js';

/** A deletion of a key the table may hold (a tombstone): the checkpoint deletes it there. */
const DELETED: unique symbol = Symbol('deleted');
type Value = unknown;

/** What a checkpoint writes: range deletions first, then each key's value (undefined: delete it). */
export interface TableChanges {
  ranges: { table: Table; start: string; end: string }[];
  entries: [Table, string, unknown][];
}

type SessionTable = 'subscriptions' | 'queue' | 'inflight' | 'awaitingRelease';
const SESSION_TABLES: readonly SessionTable[] = ['subscriptions', 'queue', 'inflight', 'awaitingRelease'];
const KEY: Record<SessionTable, (clientId: string, k: never) => string> = {
  subscriptions: subscriptionKey, queue: queueKey, inflight: packetKey, awaitingRelease: packetKey,
};

/** What the tables hold of one client, as far as the index knows. */
interface ClientIndex {
  maxSeq: number;
  inflight: Set<number>;
  awaitingRelease: Set<number>;
}

/**
 * What the tables hold, as far as deciding "created in this window" needs: message ids and
 * queue sequence numbers only grow, so a high-water mark answers for them; inflight and QoS 2
 * packet ids are reused, but few are held at a time, so those are kept. Other tables (sessions,
 * subscriptions, retained) are written rarely: their deletions are kept as tombstones. It
 * describes the tables as they will be once every checkpoint started so far has committed.
 */
export class TableIndex {
  maxMessageId = 0;
  readonly clients = new Map<string, ClientIndex>();

  /** Learns a key read from a table at start. */
  loaded(table: Table, key: string): void {
    if (table === 'messages') {
      this.maxMessageId = Math.max(this.maxMessageId, parseNumberKey(key));
      return;
    }
    if (table !== 'queue' && table !== 'inflight' && table !== 'awaitingRelease') return;
    const [clientId, rest] = splitKey(key);
    const n = parseNumberKey(rest);
    const c = this.client(clientId);
    if (table === 'queue') c.maxSeq = Math.max(c.maxSeq, n);
    else c[table].add(n);
  }

  private client(clientId: string): ClientIndex {
    let c = this.clients.get(clientId);
    if (c === undefined) this.clients.set(clientId, (c = { maxSeq: 0, inflight: new Set(), awaitingRelease: new Set() }));
    return c;
  }

  /** The changes of `overlay` as table writes; the index then describes the tables with them applied. */
  seal(overlay: Overlay): TableChanges {
    const ranges: TableChanges['ranges'] = [];
    for (const { table, clientId } of overlay.ranges) {
      ranges.push({ table, ...sessionRange(clientId) });
      // A queue's high-water mark stays as it was: too high is only cautious (tombstones).
      if (table === 'inflight' || table === 'awaitingRelease') this.clients.get(clientId)?.[table].clear();
    }
    const entries: [Table, string, unknown][] = [];
    for (const [id, v] of overlay.messages) {
      entries.push(['messages', numberKey(id), v === DELETED ? undefined : v]);
      if (v !== DELETED && id > this.maxMessageId) this.maxMessageId = id;
    }
    for (const [key, v] of overlay.sessions) entries.push(['sessions', key, v === DELETED ? undefined : v]);
    for (const [key, v] of overlay.retained) entries.push(['retained', key, v === DELETED ? undefined : v]);
    for (const [clientId, changes] of overlay.clients) {
      let index = this.clients.get(clientId);
      for (const table of SESSION_TABLES) {
        for (const [k, v] of changes[table]) {
          entries.push([table, KEY[table](clientId, k as never), v === DELETED ? undefined : v]);
          if (table === 'subscriptions' || (v === DELETED && index === undefined)) continue;
          index ??= this.client(clientId);
          if (table === 'queue') {
            if (v !== DELETED && (k as number) > index.maxSeq) index.maxSeq = k as number;
          } else if (v === DELETED) index[table].delete(k as number);
          else index[table].add(k as number);
        }
      }
      if (index !== undefined && index.maxSeq === 0 && index.inflight.size === 0 && index.awaitingRelease.size === 0) {
        this.clients.delete(clientId);
      }
    }
    return { ranges, entries };
  }
}

/** One client's changes in a window, with what the index knew of it then (constant within the window). */
class ClientChanges {
  readonly subscriptions = new Map<string, Value>();
  readonly queue = new Map<number, Value>();
  readonly inflight = new Map<number, Value>();
  readonly awaitingRelease = new Map<number, Value>();
  readonly maxSeq: number;
  readonly inflightInTable: Set<number> | undefined;
  readonly awaitingReleaseInTable: Set<number> | undefined;

  constructor(index: ClientIndex | undefined) {
    this.maxSeq = index?.maxSeq ?? 0;
    this.inflightInTable = index?.inflight.size === 0 ? undefined : index?.inflight;
    this.awaitingReleaseInTable = index?.awaitingRelease.size === 0 ? undefined : index?.awaitingRelease;
  }

  get size(): number {
    return this.subscriptions.size + this.queue.size + this.inflight.size + this.awaitingRelease.size;
  }
}

/** The net changes of one window, updated by the same writes the journal records. */
export class Overlay implements StoreWrites {
  readonly messages = new Map<number, Value>();
  readonly sessions = new Map<string, Value>();
  readonly retained = new Map<string, Value>();
  readonly clients = new Map<string, ClientChanges>();
  /** Sessions deleted, per table: every key of theirs in the table goes, before the changes are applied. */
  readonly ranges: { table: SessionTable; clientId: string }[] = [];
  /** Keys with a change, plus range deletions: what a checkpoint will write, and what this window holds in memory. */
  size = 0;
  private lastId: string | undefined;
  private last: ClientChanges | undefined;

  constructor(private readonly index: TableIndex) {}

  private client(clientId: string): ClientChanges {
    if (clientId === this.lastId) return this.last!;
    let c = this.clients.get(clientId);
    if (c === undefined) this.clients.set(clientId, (c = new ClientChanges(this.index.clients.get(clientId))));
    this.lastId = clientId;
    this.last = c;
    return c;
  }

  putSession(session: StoredSession): void {
    this.size += put(this.sessions, session.clientId, session);
  }

  deleteSession(clientId: string): void {
    this.size += remove(this.sessions, clientId, true);
    // Changes of the session are superseded by the range deletions, which a checkpoint applies first.
    const c = this.clients.get(clientId);
    if (c !== undefined) {
      this.size -= c.size;
      this.clients.delete(clientId);
    }
    this.lastId = this.last = undefined;
    for (const table of SESSION_TABLES) this.ranges.push({ table, clientId });
    this.size += SESSION_TABLES.length;
  }

  putSubscription(clientId: string, filter: string, subscription: StoredSubscription): void {
    this.size += put(this.client(clientId).subscriptions, filter, subscription);
  }

  deleteSubscription(clientId: string, filter: string): void {
    this.size += remove(this.client(clientId).subscriptions, filter, true);
  }

  putMessage(id: number, message: StoredMessage): void {
    this.size += put(this.messages, id, message);
  }

  deleteMessage(id: number): void {
    this.size += remove(this.messages, id, id <= this.index.maxMessageId);
  }

  putQueued(clientId: string, seq: number, delivery: StoredDelivery): void {
    this.size += put(this.client(clientId).queue, seq, delivery);
  }

  deleteQueued(clientId: string, seq: number): void {
    const c = this.client(clientId);
    this.size += remove(c.queue, seq, seq <= c.maxSeq);
  }

  putInflight(clientId: string, packetId: number, entry: StoredInflight): void {
    this.size += put(this.client(clientId).inflight, packetId, entry);
  }

  deleteInflight(clientId: string, packetId: number): void {
    const c = this.client(clientId);
    this.size += remove(c.inflight, packetId, c.inflightInTable?.has(packetId) === true);
  }

  putAwaitingRelease(clientId: string, packetId: number): void {
    this.size += put(this.client(clientId).awaitingRelease, packetId, 1);
  }

  deleteAwaitingRelease(clientId: string, packetId: number): void {
    const c = this.client(clientId);
    this.size += remove(c.awaitingRelease, packetId, c.awaitingReleaseInTable?.has(packetId) === true);
  }

  putRetained(topic: string, messageId: number): void {
    this.size += put(this.retained, topic, messageId);
  }

  deleteRetained(topic: string): void {
    this.size += remove(this.retained, topic, true);
  }

  /** Whether this window changes `table`. */
  changes(table: Table): boolean {
    if (table === 'messages' || table === 'sessions' || table === 'retained') return this[table].size > 0;
    return this.ranges.some((r) => r.table === table) || [...this.clients.values()].some((c) => c[table].size > 0);
  }

  /** Lays this window's changes over a table's entries as read (keys in table form). */
  applyTo(table: Table, entries: Map<string, unknown>): void {
    for (const r of this.ranges) {
      if (r.table !== table) continue;
      const { start, end } = sessionRange(r.clientId);
      for (const key of entries.keys()) if (key >= start && key < end) entries.delete(key);
    }
    if (table === 'messages') {
      for (const [id, v] of this.messages) set(entries, numberKey(id), v);
    } else if (table === 'sessions' || table === 'retained') {
      for (const [key, v] of this[table]) set(entries, key, v);
    } else {
      for (const [clientId, c] of this.clients) {
        for (const [k, v] of c[table]) set(entries, KEY[table](clientId, k as never), v);
      }
    }
  }
}

function set(entries: Map<string, unknown>, key: string, value: Value): void {
  if (value === DELETED) entries.delete(key);
  else entries.set(key, value);
}

/** Sets a key's value; returns how the count of changed keys moved. */
function put<K>(map: Map<K, Value>, key: K, value: unknown): number {
  const n = map.size;
  map.set(key, value);
  return map.size - n;
}

/** `inTable`: whether the table may hold the key. Returns how the count of changed keys moved. */
function remove<K>(map: Map<K, Value>, key: K, inTable: boolean): number {
  if (!inTable) {
    // Created in this window, if at all, and never in the table: nothing to write.
    return map.delete(key) ? -1 : 0;
  }
  const n = map.size;
  map.set(key, DELETED);
  return map.size - n;
}
