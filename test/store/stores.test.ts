// The conformance suite against the memory backend and the LMDB backend (both durabilities).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { LmdbBackend } from '../../src/store/lmdb.js';
import { MemoryBackend } from '../../src/store/memory.js';
import { TableStore } from '../../src/store/table-store.js';
import type { Store } from '../../src/store/store.js';
import { storeConformance } from './conformance.js';

const root = mkdtempSync(join(tmpdir(), 'petrel-store-test-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

storeConformance('memory', { create: async () => new TableStore(new MemoryBackend()) });

for (const durability of ['sync', 'batched'] as const) {
  const paths = new WeakMap<Store, string>();
  storeConformance(`lmdb ${durability}`, {
    async create() {
      const path = join(root, `db-${n++}`);
      const store = new TableStore(new LmdbBackend({ path, durability }));
      paths.set(store, path);
      return store;
    },
    async reopen(store) {
      const path = paths.get(store)!;
      await store.close();
      const again = new TableStore(new LmdbBackend({ path, durability }));
      paths.set(again, path);
      return again;
    },
  });
}
