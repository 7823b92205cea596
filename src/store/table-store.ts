// The Store over a table backend, as a journal and checkpoints. Each event-loop turn's writes
// become ONE journal record (codec.ts), appended with one write: that commit is what makes them
// durable, and costs the same however many messages the turn carried. The tables lag behind: the
// overlay (overlay.ts) holds the net changes since the last checkpoint, which writes them to the
// tables together with the number of the last record they cover, atomically (the records up to
// it are then released). Writes that cancel out inside one window (a message stored, sent,
// acknowledged, deleted) never reach the tables. Reading the state back at start is the tables
// with the journal replayed over them, done here so every backend behaves the same.

import { Batch } from './batch.js';
import { RecordWriter } from './codec.js';
import { readRecord } from './codec-read.js';
import { parseNumberKey, splitKey, TABLES, type Table } from './keys.js';
import { Overlay, TableIndex, type TableChanges } from './overlay.js';
import type {
  Committed, Store, StoredDelivery, StoredInflight, StoredMessage, StoredSession, StoredState, StoredSubscription,
} from './store.js';

export type { TableChanges } from './overlay.js';

/** Where the tables and the journal live. */
export interface Backend {
  readonly kind: 'memory' | 'lmdb';
  /** Why a batch that adds data must be refused now (the store is full), or undefined. */
  refusal(): Error | undefined;
  /**
   * Appends one journal record, after every earlier one; resolves once durable as configured.
   * Calls `written` once the write is over, failed or not, so that a next one may start.
   */
  append(seq: number, record: Buffer, written: () => void): Promise<void>;
  /**
   * In one atomic transaction: applies the changes to the tables, and records that they hold
   * every journal record up to `throughSeq` (which later starts then skip, and which may go).
   */
  checkpoint(changes: TableChanges, throughSeq: number): Promise<void>;
  /** Every entry of a table, in key order. */
  read(table: Table): [string, unknown][];
  /** The sequence number the tables are checkpointed through, and every journal record after it, in order. */
  readJournal(): { after: number; records: [number, Buffer][] };
  close(): Promise<void>;
}

export interface TableStoreOptions {
  /** Told about failed commits and checkpoints. */
  onError?: (err: unknown) => void;
  /** Told how long each journal record took from being handed over to being durable, in seconds. */
  onCommit?: (seconds: number) => void;
  /**
   * When to checkpoint: once `ms` have passed since the last one, or once the changes held in
   * memory reach `keys` (which bounds that memory). false: never, not even at close, so the
   * journal alone carries everything (for tests of replay).
   */
  checkpoint?: { ms: number; keys: number } | false;
}

const DEFAULT_CHECKPOINT = { ms: 1000, keys: 50_000 };
const APPENDS_IN_FLIGHT = 2;

interface Sealed {
  overlay: Overlay;
  changes: TableChanges;
  through: number;
}

export class TableStore implements Store {
  readonly kind: 'memory' | 'lmdb';
  private readonly onError: (err: unknown) => void;
  private readonly onCommit: ((seconds: number) => void) | undefined;
  private readonly every: { ms: number; keys: number } | false;
  private readonly index = new TableIndex();
  private overlay = new Overlay(this.index);
  private readonly journal = new RecordWriter();
  private batch: Batch | undefined;
  /** The batch handed to the backend most recently: commit() waits for it when nothing is pending. */
  private lastWritten: Promise<void> = Promise.resolve();
  /** Appends handed to the backend and not written yet. */
  private appending = 0;
  /** Sequence number of the last journal record appended. */
  private seq = 0;
  private recovered = false;
  /** Changes handed to a checkpoint that has not committed yet (retried if it failed). */
  private sealed: Sealed | undefined;
  private checkpointing: Promise<void> | undefined;
  private checkpointedSeq = 0;
  private checkpointAt = Date.now();
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(private readonly backend: Backend, options: TableStoreOptions = {}) {
    this.kind = backend.kind;
    this.onError = options.onError ?? (() => undefined);
    this.onCommit = options.onCommit;
    this.every = options.checkpoint ?? DEFAULT_CHECKPOINT;
    if (this.every !== false) {
      // A quiet store still checkpoints, so that a restart has little journal to replay.
      this.timer = setInterval(() => { if (this.batch === undefined) this.maybeCheckpoint(); }, this.every.ms);
      this.timer.unref();
    }
  }

  get dirty(): boolean {
    return this.batch !== undefined;
  }

  commit(): Promise<void> {
    return this.batch !== undefined ? this.batch.promise : this.lastWritten;
  }

  /** As commit(), for the broker's hot path: no promise per caller. */
  committed(): Committed {
    return this.batch ?? this.lastWritten;
  }

  // --- writes: each goes to this turn's journal record and to the overlay ---------------------

  putSession(session: StoredSession): void {
    if (this.refused()) return;
    this.journal.putSession(session);
    this.overlay.putSession(session);
  }

  deleteSession(clientId: string): void {
    this.touch();
    this.journal.deleteSession(clientId);
    this.overlay.deleteSession(clientId);
  }

  putSubscription(clientId: string, filter: string, subscription: StoredSubscription): void {
    if (this.refused()) return;
    this.journal.putSubscription(clientId, filter, subscription);
    this.overlay.putSubscription(clientId, filter, subscription);
  }

  deleteSubscription(clientId: string, filter: string): void {
    this.touch();
    this.journal.deleteSubscription(clientId, filter);
    this.overlay.deleteSubscription(clientId, filter);
  }

  putMessage(id: number, message: StoredMessage): void {
    if (this.refused()) return;
    this.journal.putMessage(id, message);
    this.overlay.putMessage(id, message);
  }

  deleteMessage(id: number): void {
    this.touch();
    this.journal.deleteMessage(id);
    this.overlay.deleteMessage(id);
  }

  putQueued(clientId: string, seq: number, delivery: StoredDelivery): void {
    if (this.refused()) return;
    this.journal.putQueued(clientId, seq, delivery);
    this.overlay.putQueued(clientId, seq, delivery);
  }

  deleteQueued(clientId: string, seq: number): void {
    this.touch();
    this.journal.deleteQueued(clientId, seq);
    this.overlay.deleteQueued(clientId, seq);
  }

  putInflight(clientId: string, packetId: number, entry: StoredInflight): void {
    if (this.refused()) return;
    this.journal.putInflight(clientId, packetId, entry);
    this.overlay.putInflight(clientId, packetId, entry);
  }

  deleteInflight(clientId: string, packetId: number): void {
    this.touch();
    this.journal.deleteInflight(clientId, packetId);
    this.overlay.deleteInflight(clientId, packetId);
  }

  putAwaitingRelease(clientId: string, packetId: number): void {
    if (this.refused()) return;
    this.journal.putAwaitingRelease(clientId, packetId);
    this.overlay.putAwaitingRelease(clientId, packetId);
  }

  deleteAwaitingRelease(clientId: string, packetId: number): void {
    this.touch();
    this.journal.deleteAwaitingRelease(clientId, packetId);
    this.overlay.deleteAwaitingRelease(clientId, packetId);
  }

  putRetained(topic: string, messageId: number): void {
    if (this.refused()) return;
    this.journal.putRetained(topic, messageId);
    this.overlay.putRetained(topic, messageId);
  }

  deleteRetained(topic: string): void {
    this.touch();
    this.journal.deleteRetained(topic);
    this.overlay.deleteRetained(topic);
  }

  /** This turn's batch, and a flush at the end of the turn. */
  private touch(): Batch {
    if (this.batch !== undefined) return this.batch;
    if (!this.recovered) this.recover();
    this.batch = new Batch();
    setImmediate(this.flush);
    return this.batch;
  }

  /**
   * A full store refuses what adds data, and lets deletions through so that it can drain. The
   * batch then fails as a whole (nothing in it is acknowledged), but its deletions are kept:
   * they only follow what the broker has already forgotten.
   */
  private refused(): boolean {
    const batch = this.touch();
    if (!batch.checked) {
      batch.checked = true;
      batch.refusal = this.backend.refusal();
    }
    return batch.refusal !== undefined;
  }

  /**
   * Hands the record to the backend at the end of the turn. While APPENDS_IN_FLIGHT appends are
   * being written, later turns join the same record (group commit): every append costs a system
   * call and a hand-over to a thread, whatever it holds. Two in flight rather than one: the
   * next record need not wait for the previous write to end, which shortens the wait for an
   * acknowledgement (a QoS 2 message waits for two commits); more only adds appends.
   */
  private readonly flush = (): void => {
    const batch = this.batch;
    if (batch === undefined || this.appending >= APPENDS_IN_FLIGHT) return;
    this.batch = undefined;
    if (this.journal.empty) {
      if (batch.refusal !== undefined) batch.reject(batch.refusal);
      else batch.resolve();
      return;
    }
    this.appending++;
    const handedOver = performance.now();
    const written = this.backend.append(++this.seq, this.journal.take(), this.appended);
    const previous = this.lastWritten;
    // A batch counts as durable only once the ones before it are.
    this.lastWritten = written.then(() => previous).catch(() => undefined);
    written.then(() => previous.then(() => {
      this.onCommit?.((performance.now() - handedOver) / 1000);
      if (batch.refusal !== undefined) batch.reject(batch.refusal);
      else batch.resolve();
    }), (err: unknown) => {
      this.onError(err);
      batch.reject(err);
    });
    this.maybeCheckpoint();
  };

  /** An append is written (or failed): what waited for it goes next. */
  private readonly appended = (): void => {
    this.appending--;
    this.flush();
  };

  // --- checkpoints ----------------------------------------------------------------------------

  /** Checkpoints when it is time, one at a time, and only between batches (the overlay then matches the journal). */
  private maybeCheckpoint(force = false): void {
    if (this.checkpointing !== undefined || this.batch !== undefined || this.seq === this.checkpointedSeq) return;
    if (!force) {
      if (this.every === false) return;
      if (this.overlay.size < this.every.keys && Date.now() - this.checkpointAt < this.every.ms) return;
    }
    if (this.sealed === undefined) {
      this.sealed = { overlay: this.overlay, changes: this.index.seal(this.overlay), through: this.seq };
      this.overlay = new Overlay(this.index);
    }
    // A failed checkpoint is retried as it was: later changes are in the next overlay, applied after it.
    const sealed = this.sealed;
    this.checkpointAt = Date.now();
    this.checkpointing = this.backend.checkpoint(sealed.changes, sealed.through).then(() => {
      this.sealed = undefined;
      this.checkpointedSeq = sealed.through;
      this.checkpointing = undefined;
    }, (err: unknown) => {
      this.checkpointing = undefined;
      this.onError(err);
    });
  }

  // --- reading back ---------------------------------------------------------------------------

  /**
   * Learns what the tables hold and replays the journal over them: once, before this store's
   * first write or read, so the records of the previous run come before any of this one.
   */
  private recover(tables?: Map<Table, [string, unknown][]>): void {
    this.recovered = true;
    for (const table of ['messages', 'queue', 'inflight', 'awaitingRelease'] as const) {
      for (const [key] of tables?.get(table) ?? this.backend.read(table)) this.index.loaded(table, key);
    }
    const { after, records } = this.backend.readJournal();
    // Numbering goes on from the checkpoint even when no record is left: a record numbered at
    // or below it would be taken for one the tables already hold.
    this.seq = this.checkpointedSeq = after;
    for (const [seq, record] of records) {
      readRecord(record, this.overlay);
      this.seq = seq;
    }
  }

  load(): Promise<StoredState> {
    const tables = new Map<Table, [string, unknown][]>(TABLES.map((t) => [t, this.backend.read(t)]));
    if (!this.recovered) this.recover(tables);
    const overlays = this.sealed === undefined ? [this.overlay] : [this.sealed.overlay, this.overlay];
    const t = {} as Record<Table, [string, unknown][]>;
    for (const table of TABLES) {
      const rows = tables.get(table)!;
      const changed = overlays.some((o) => o.changes(table));
      if (!changed) {
        t[table] = rows;
        continue;
      }
      const entries = new Map(rows);
      for (const o of overlays) o.applyTo(table, entries);
      t[table] = [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    }
    const perSession = <T>(table: Table, make: (clientId: string, rest: string, value: unknown) => T): T[] =>
      t[table].map(([key, value]) => {
        const [clientId, rest] = splitKey(key);
        return make(clientId, rest, value);
      });
    return Promise.resolve({
      sessions: t.sessions.map(([, v]) => v as StoredSession),
      subscriptions: perSession('subscriptions', (clientId, filter, v) => ({ clientId, filter, subscription: v as StoredSubscription })),
      queued: perSession('queue', (clientId, seq, v) => ({ clientId, seq: parseNumberKey(seq), delivery: v as StoredDelivery })),
      inflight: perSession('inflight', (clientId, id, v) => ({ clientId, packetId: parseNumberKey(id), entry: v as StoredInflight })),
      awaitingRelease: perSession('awaitingRelease', (clientId, id) => ({ clientId, packetId: parseNumberKey(id) })),
      messages: new Map(t.messages.map(([k, v]) => [parseNumberKey(k), v as StoredMessage])),
      retained: t.retained.map(([topic, v]) => ({ topic, messageId: v as number })),
    });
  }

  async close(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    // Until every batch is written: one may be waiting for the append before it.
    for (;;) {
      this.flush();
      const last = this.lastWritten;
      await last;
      if (this.batch === undefined && last === this.lastWritten) break;
    }
    await this.checkpointing;
    // The last checkpoint empties the journal, so the next start reads the tables alone.
    if (this.every !== false) {
      this.maybeCheckpoint(true);
      await this.checkpointing;
    }
    await this.backend.close();
  }
}
