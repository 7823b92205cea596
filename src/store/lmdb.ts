// The embedded default: LMDB in the data directory. A batch is one write transaction; in
// `sync` durability its promise resolves only once LMDB reports the commit flushed to disk.

import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { TABLES, type Table } from './keys.js';
import type { Backend, Op } from './table-store.js';

export type Durability = 'sync' | 'batched' | 'none';

export interface LmdbOptions {
  /** Directory of the database files. */
  path: string;
  /** sync: a commit counts when flushed to disk; batched: when written (the OS flushes later). */
  durability: 'sync' | 'batched';
  /**
   * Largest size the database files may reach, in bytes. Past it, batches that add data are
   * refused (StoreFullError) while batches that only delete still go through, so it can drain.
   */
  maxSize?: number;
}

export class StoreFullError extends Error {
  override name = 'StoreFullError';
}

export class StoreOpenError extends Error {
  override name = 'StoreOpenError';
}

export class LmdbBackend implements Backend {
  readonly kind = 'lmdb';
  private readonly root: RootDatabase;
  private readonly dbs: Map<Table, Database>;
  private readonly durability: 'sync' | 'batched';
  private readonly lockPath: string;
  private readonly maxSize: number | undefined;

  constructor(options: LmdbOptions) {
    this.durability = options.durability;
    this.maxSize = options.maxSize;
    this.lockPath = join(options.path, 'petrel.pid');
    try {
      mkdirSync(options.path, { recursive: true });
    } catch (err) {
      throw new StoreOpenError(`cannot create the data directory ${options.path}: ${err instanceof Error ? err.message : String(err)}`);
    }
    takeLock(this.lockPath);
    try {
      this.root = open({
        path: options.path,
        maxDbs: TABLES.length + 2,
        separateFlushed: true,
        // Writes are batched by the store itself, one transaction per turn.
        eventTurnBatching: false,
      });
      this.dbs = new Map(TABLES.map((t) => [t, this.root.openDB({ name: t })]));
    } catch (err) {
      rmSync(this.lockPath, { force: true });
      throw new StoreOpenError(`cannot open the store in ${options.path}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  write(ops: Op[]): Promise<void> {
    if (this.maxSize !== undefined && ops.some((op) => !('range' in op) && op.value !== undefined)) {
      const stats = this.root.getStats() as { lastPageNumber: number; pageSize: number };
      const used = (stats.lastPageNumber + 1) * stats.pageSize;
      if (used >= this.maxSize) {
        return Promise.reject(new StoreFullError(`store full: ${used} bytes used of ${this.maxSize} allowed`));
      }
    }
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
    rmSync(this.lockPath, { force: true });
  }
}

/**
 * One broker per data directory: LMDB would let two processes share it, and two brokers
 * writing the same sessions would each undo the other. A lock file names the owner's pid; a
 * stale one (its process gone, as after a crash) is taken over.
 */
function takeLock(path: string): void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new StoreOpenError(`cannot lock the data directory (${path}): ${(err as Error).message}`);
      }
      const pid = Number(readFileSync(path, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new StoreOpenError(`the data directory is in use by another process (pid ${pid}, ${path})`);
      }
      rmSync(path, { force: true });
    }
  }
  throw new StoreOpenError(`cannot lock the data directory (${path})`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
