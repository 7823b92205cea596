// The conformance suite against the memory backend and the LMDB backend (both durabilities, and
// checkpoints at every append or never).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { LmdbBackend } from '../../src/store/lmdb.js';
import { MemoryBackend } from '../../src/store/memory.js';
import { TableStore, type TableStoreOptions } from '../../src/store/table-store.js';
import type { Store } from '../../src/store/store.js';
import { storeConformance } from './conformance.js';

const root = mkdtempSync(join(tmpdir(), 'petrel-store-test-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

storeConformance('memory', { create: async () => new TableStore(new MemoryBackend()) });

// Default checkpoints; a checkpoint after every append; none at all, so that a reopened store
// reads everything back from the journal alone.
const variants: [string, 'sync' | 'batched', TableStoreOptions][] = [
  ['lmdb sync', 'sync', {}],
  ['lmdb batched', 'batched', {}],
  ['lmdb sync, checkpoint after every append', 'sync', { checkpoint: { ms: 0, keys: 0 } }],
  ['lmdb sync, journal only', 'sync', { checkpoint: false }],
];
for (const [name, durability, options] of variants) {
  const paths = new WeakMap<Store, string>();
  storeConformance(name, {
    async create() {
      const path = join(root, `db-${n++}`);
      const store = new TableStore(new LmdbBackend({ path, durability }), options);
      paths.set(store, path);
      return store;
    },
    async reopen(store) {
      const path = paths.get(store)!;
      await store.close();
      const again = new TableStore(new LmdbBackend({ path, durability }), options);
      paths.set(again, path);
      return again;
    },
  });
}
