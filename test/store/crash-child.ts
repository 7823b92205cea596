// A process that writes seeded random batches to an LMDB store, for a parent that kills it:
// `node crash-child.js DIR SEED FIRST_BATCH CHECKPOINT_KEYS`. Prints "committed N" once batch N
// is durable, and "checkpoint" as each checkpoint starts, so the parent can kill it there.
// Without arguments (the test runner loads every file of the directory) it does nothing.

import { LmdbBackend } from '../../src/store/lmdb.js';
import { TableStore, type TableChanges } from '../../src/store/table-store.js';
import { apply, randomBatches } from './random-ops.js';

class Announced extends LmdbBackend {
  override checkpoint(changes: TableChanges, throughSeq: number): Promise<void> {
    process.stdout.write(`checkpoint ${changes.entries.length}\n`);
    return super.checkpoint(changes, throughSeq);
  }
}

async function main(dir: string, seed: number, first: number, keys: number): Promise<void> {
  const store = new TableStore(new Announced({ path: dir, durability: 'sync' }), { checkpoint: { ms: 0, keys } });
  await store.load();
  let n = 0;
  for (const batch of randomBatches(seed)) {
    n++;
    if (n < first) continue;
    apply(store, batch);
    const done = n;
    store.commit().then(() => process.stdout.write(`committed ${done}\n`), () => undefined);
    // Now and then wait for the commit, else go on at once: several batches are often in flight.
    if (n % 3 === 0) await store.commit();
    else await new Promise((resolve) => setImmediate(resolve));
  }
}

const [dir, seed, first, keys] = process.argv.slice(2);
if (keys !== undefined) await main(dir, Number(seed), Number(first), Number(keys));
