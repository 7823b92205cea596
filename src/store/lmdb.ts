// The embedded default: LMDB in the data directory for the tables, as the last checkpoint left
// them (values in msgpack, lmdb-js's default), with the sequence number that checkpoint covers;
// the journal of records since then in files beside it (journal-file.ts). A checkpoint is one
// LMDB transaction: the tables' changes and the sequence number together. Once it is flushed,
// the journal segments it covers are released (kept for reuse, or deleted); a crash before that
// leaves records the start skips, as the checkpoint's sequence number says the tables have them.

import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { TABLES, type Table } from './keys.js';
import { FileJournal } from './journal-file.js';
import type { Backend, TableChanges } from './table-store.js';

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

/** The key in `meta` of the sequence number of the last journal record the tables hold. */
const CHECKPOINT = 'checkpoint';

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
  private readonly meta: Database;
  private readonly journal: FileJournal;
  /** The checkpoint being written (and retried, if it failed), with the first journal segment it does not cover. */
  private rotation: { through: number; first: number } | undefined;
  private readonly durability: 'sync' | 'batched';
  private readonly lockPath: string;
  private readonly maxSize: number | undefined;
  private tableBytes = 0;

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
        maxDbs: TABLES.length + 3,
        separateFlushed: true,
        // Only checkpoints write here, one transaction each.
        eventTurnBatching: false,
      });
      this.dbs = new Map(TABLES.map((t) => [t, this.root.openDB({ name: t })]));
      this.meta = this.root.openDB({ name: 'meta' });
      this.journal = new FileJournal(join(options.path, 'journal'), this.durability === 'sync');
      if (this.maxSize !== undefined) this.measure();
    } catch (err) {
      rmSync(this.lockPath, { force: true });
      throw new StoreOpenError(`cannot open the store in ${options.path}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  refusal(): Error | undefined {
    if (this.maxSize === undefined) return undefined;
    const used = this.tableBytes + this.journal.bytes;
    return used >= this.maxSize ? new StoreFullError(`store full: ${used} bytes used of ${this.maxSize} allowed`) : undefined;
  }

  /** The tables' file grows only at checkpoints: measured then, not for every batch. */
  private measure(): void {
    const stats = this.root.getStats() as { lastPageNumber: number; pageSize: number };
    this.tableBytes = (stats.lastPageNumber + 1) * stats.pageSize;
  }

  append(seq: number, record: Buffer, written: () => void): Promise<void> {
    let appended: Promise<void>;
    try {
      appended = this.journal.append(seq, record);
    } catch (err) {
      appended = Promise.reject(err);
    }
    appended.then(written, written);
    return appended;
  }

  checkpoint(changes: TableChanges, throughSeq: number): Promise<void> {
    if (this.rotation?.through !== throughSeq) this.rotation = { through: throughSeq, first: this.journal.rotate() };
    const { first } = this.rotation;
    const committed = this.root.transaction(() => {
      for (const r of changes.ranges) {
        const db = this.dbs.get(r.table)!;
        for (const key of db.getKeys({ start: r.start, end: r.end })) db.remove(key);
      }
      for (const [table, key, value] of changes.entries) {
        const db = this.dbs.get(table)!;
        if (value === undefined) db.remove(key);
        else db.put(key, value);
      }
      void this.meta.put(CHECKPOINT, throughSeq);
    });
    // The segments go only once the checkpoint cannot be lost any more, in either durability.
    return committed.then(() => this.root.flushed).then(() => {
      this.journal.release(first);
      this.rotation = undefined;
      if (this.maxSize !== undefined) this.measure();
    });
  }

  read(table: Table): [string, unknown][] {
    const out: [string, unknown][] = [];
    for (const { key, value } of this.dbs.get(table)!.getRange()) out.push([key as string, value]);
    return out;
  }

  readJournal(): { after: number; records: [number, Buffer][] } {
    const after = (this.meta.get(CHECKPOINT) as number | undefined) ?? 0;
    return { after, records: this.journal.read(after) };
  }

  async close(): Promise<void> {
    await this.journal.close();
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
