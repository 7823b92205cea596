// A backend in memory: the same tables and keys as LMDB, nothing survives the process. It
// is what the conformance suite holds the LMDB backend to, and a store for tests.

import { TABLES, type Table } from './keys.js';
import type { Backend, Op } from './table-store.js';

export class MemoryBackend implements Backend {
  readonly kind = 'memory';
  private readonly tables = new Map<Table, Map<string, unknown>>(TABLES.map((t) => [t, new Map()]));

  write(ops: Op[]): Promise<void> {
    for (const op of ops) {
      const table = this.tables.get(op.table)!;
      if ('range' in op) {
        for (const key of [...table.keys()]) if (key >= op.range.start && key < op.range.end) table.delete(key);
      } else if (op.value === undefined) {
        table.delete(op.key);
      } else {
        // Stored values are copies, as a real store's would be.
        table.set(op.key, copy(op.value));
      }
    }
    return Promise.resolve();
  }

  read(table: Table): Promise<[string, unknown][]> {
    const entries = [...this.tables.get(table)!.entries()];
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Promise.resolve(entries.map(([k, v]) => [k, copy(v)]));
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
