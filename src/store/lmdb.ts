// The embedded default: LMDB in the data directory. A batch is one write transaction; in
// `sync` durability its promise resolves only once LMDB reports the commit flushed to disk.

import { mkdirSync } from 'node:fs';
import { open, type Database, type RootDatabase } from 'lmdb';
import { TABLES, type Table } from './keys.js';
import type { Backend, Op } from './table-store.js';

export type Durability = 'sync' | 'batched' | 'none';

export interface LmdbOptions {
  /** Directory of the database files. */
  path: string;
  /** sync: a commit counts when flushed to disk; batched: when written (the OS flushes later). */
  durability: 'sync' | 'batched';
  /** Largest size the database may grow to, in bytes (LMDB maps it; it is not allocated up front). */
  mapSize?: number;
}

export class StoreOpenError extends Error {
  override name = 'StoreOpenError';
}

export class LmdbBackend implements Backend {
  readonly kind = 'lmdb';
  private readonly root: RootDatabase;
  private readonly dbs: Map<Table, Database>;
  private readonly durability: 'sync' | 'batched';

  constructor(options: LmdbOptions) {
    this.durability = options.durability;
    try {
      mkdirSync(options.path, { recursive: true });
      this.root = open({
        path: options.path,
        maxDbs: TABLES.length + 2,
        separateFlushed: true,
        mapSize: options.mapSize ?? 16 * 1024 ** 3,
        // Writes are batched by the store itself, one transaction per turn.
        eventTurnBatching: false,
      });
      this.dbs = new Map(TABLES.map((t) => [t, this.root.openDB({ name: t })]));
    } catch (err) {
      throw new StoreOpenError(`cannot open the store in ${options.path}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  write(ops: Op[]): Promise<void> {
    const committed = this.root.transaction(() => {
      for (const op of ops) {
        const db = this.dbs.get(op.table)!;
        if ('range' in op) {
          for (const key of db.getKeys({ start: op.range.start, end: op.range.end })) db.remove(key);
        } else if (op.value === undefined) {
          db.remove(op.key);
        } else {
          db.put(op.key, op.value);
        }
      }
    }) as Promise<unknown> & { flushed?: Promise<unknown> };
    if (this.durability === 'batched') return committed.then(() => undefined);
    return committed.then(() => committed.flushed ?? this.root.flushed).then(() => undefined);
  }

  read(table: Table): Promise<[string, unknown][]> {
    const out: [string, unknown][] = [];
    for (const { key, value } of this.dbs.get(table)!.getRange()) out.push([key as string, value]);
    return Promise.resolve(out);
  }

  async close(): Promise<void> {
    await this.root.flushed;
    await this.root.close();
  }
}
