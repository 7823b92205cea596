// A backend in memory: the same tables, keys and journal as LMDB, nothing survives the process.
// It is what the conformance suite holds the LMDB backend to, and a store for tests.

import { TABLES, type Table } from './keys.js';
import type { Backend, TableChanges } from './table-store.js';

export class MemoryBackend implements Backend {
  readonly kind = 'memory';
  private readonly tables = new Map<Table, Map<string, unknown>>(TABLES.map((t) => [t, new Map()]));
  private readonly journal = new Map<number, Buffer>();
  private checkpointed = 0;

  refusal(): Error | undefined {
    return undefined;
  }

  append(seq: number, record: Buffer, written: () => void): Promise<void> {
    this.journal.set(seq, Buffer.from(record));
    queueMicrotask(written);
    return Promise.resolve();
  }

  checkpoint(changes: TableChanges, throughSeq: number): Promise<void> {
    for (const r of changes.ranges) {
      const table = this.tables.get(r.table)!;
      for (const key of [...table.keys()]) if (key >= r.start && key < r.end) table.delete(key);
    }
    for (const [name, key, value] of changes.entries) {
      const table = this.tables.get(name)!;
      // Stored values are copies, as a real store's would be.
      if (value === undefined) table.delete(key);
      else table.set(key, copy(value));
    }
    for (const seq of [...this.journal.keys()]) if (seq <= throughSeq) this.journal.delete(seq);
    this.checkpointed = throughSeq;
    return Promise.resolve();
  }

  read(table: Table): [string, unknown][] {
    const entries = [...this.tables.get(table)!.entries()];
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return entries.map(([k, v]) => [k, copy(v)]);
  }

  readJournal(): { after: number; records: [number, Buffer][] } {
    return { after: this.checkpointed, records: [...this.journal.entries()].sort(([a], [b]) => a - b) };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A deep copy of plain data that keeps Buffers Buffers (structuredClone makes them Uint8Arrays). */
function copy(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return Buffer.from(value);
  if (Array.isArray(value)) return value.map(copy);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = copy(v);
    return out;
  }
  return value;
}
