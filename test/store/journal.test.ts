// The journal and its checkpoints, against a model of what must be read back: seeded random
// writes with keys reused on purpose; a journal alone replayed in order; checkpoints at every
// batch or by size; a restart with a large journal; and a real process killed with SIGKILL at
// random points, often in the middle of a checkpoint, after which the store must be exactly as
// it was after some batch no earlier than the last one acknowledged.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { LmdbBackend } from '../../src/store/lmdb.js';
import { MemoryBackend } from '../../src/store/memory.js';
import { TableStore, type TableStoreOptions } from '../../src/store/table-store.js';
import type { StoredState } from '../../src/store/store.js';
import { apply, Model, randomBatches, type Op } from './random-ops.js';

const root = mkdtempSync(join(tmpdir(), 'petrel-journal-store-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => join(root, `db-${n++}`);
const child = fileURLToPath(new URL('./crash-child.js', import.meta.url));

const lmdb = (path: string, options: TableStoreOptions = {}): TableStore =>
  new TableStore(new LmdbBackend({ path, durability: 'sync' }), options);

function take(seed: number, count: number): Op[][] {
  const out: Op[][] = [];
  for (const batch of randomBatches(seed)) {
    out.push(batch);
    if (out.length === count) break;
  }
  return out;
}

/** Writes the batches, one commit each, checking the store against the model every few. */
async function run(store: TableStore, batches: Op[][], model: Model): Promise<void> {
  for (const [i, batch] of batches.entries()) {
    apply(store, batch);
    apply(model, batch);
    await store.commit();
    if (i % 25 === 0) assert.deepEqual(await store.load(), model.state(), `after batch ${i + 1}`);
  }
}

for (const seed of [1, 2, 3]) {
  test(`memory, seed ${seed}: random writes read back as the model has them, checkpoint or not`, async () => {
    for (const checkpoint of [false, { ms: 0, keys: 0 }, { ms: 1e9, keys: 40 }] as const) {
      const store = new TableStore(new MemoryBackend(), { checkpoint });
      await run(store, take(seed, 300), new Model());
      await store.close();
    }
  });
}

test('a journal alone (no checkpoint at all) is replayed in order at the next start', async () => {
  const path = fresh();
  const model = new Model();
  const batches = take(11, 400);
  let store = lmdb(path, { checkpoint: false });
  await run(store, batches.slice(0, 200), model);
  await store.close();
  // Second run: replays the first, appends after it; third: replays both.
  store = lmdb(path, { checkpoint: false });
  assert.deepEqual(await store.load(), model.state());
  await run(store, batches.slice(200), model);
  await store.close();
  store = lmdb(path, { checkpoint: false });
  assert.deepEqual(await store.load(), model.state());
  await store.close();
  // A store that checkpoints takes the journal over, and leaves the same state behind.
  store = lmdb(path);
  assert.deepEqual(await store.load(), model.state());
  await store.close();
  store = lmdb(path, { checkpoint: false });
  assert.deepEqual(await store.load(), model.state());
  await store.close();
});

for (const checkpoint of [{ ms: 0, keys: 0 }, { ms: 1e9, keys: 50 }]) {
  test(`checkpoints ${checkpoint.keys === 0 ? 'after every append' : 'by size'}: tables and journal together read back as written`, async () => {
    const path = fresh();
    const model = new Model();
    let store = lmdb(path, { checkpoint });
    await run(store, take(21, 300), model);
    await store.close();
    store = lmdb(path, { checkpoint });
    assert.deepEqual(await store.load(), model.state());
    await run(store, take(22, 200), model);
    await store.close();
    store = lmdb(path, { checkpoint: false });
    assert.deepEqual(await store.load(), model.state());
    await store.close();
  });
}

test('a restart with a large journal: 100,000 messages replayed, in queue order', async () => {
  const path = fresh();
  let store = lmdb(path, { checkpoint: false });
  const payload = Buffer.alloc(64, 7);
  for (let i = 1; i <= 100_000; i++) {
    store.putMessage(i, { topic: `q/${i % 100}`, payload, qos: 1, retain: false, expiresAt: 0 });
    store.putQueued('sub', i, { messageId: i, qos: 1, retain: false });
    if (i % 1000 === 0) await store.commit();
  }
  await store.close();
  store = lmdb(path);
  const t0 = performance.now();
  const s: StoredState = await store.load();
  const ms = performance.now() - t0;
  assert.equal(s.messages.size, 100_000);
  assert.equal(s.queued.length, 100_000);
  assert.ok(s.queued.every((q, i) => q.seq === i + 1 && q.delivery.messageId === i + 1));
  // The first checkpoint moves the replayed journal into the tables; the next start reads those.
  await store.close();
  store = lmdb(path, { checkpoint: false });
  assert.equal((await store.load()).queued.length, 100_000);
  await store.close();
  process.stdout.write(`# large journal: 100000 messages replayed in ${ms.toFixed(0)} ms\n`);
});

/** Runs the child until it is killed; returns the last batch it reported committed. */
async function crashRound(path: string, seed: number, first: number, killAtCheckpoint: boolean, rnd: number): Promise<number> {
  const proc = spawn(process.execPath, [child, path, String(seed), String(first), '400'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let acked = first - 1;
  let killing = false;
  const kill = (delay: number): void => {
    if (killing) return;
    killing = true;
    setTimeout(() => proc.kill('SIGKILL'), delay);
  };
  const target = first + 5 + Math.floor(rnd * 60);
  proc.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  proc.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    const lines = out.split('\n');
    out = lines.pop()!;
    for (const line of lines) {
      const m = /^committed (\d+)$/.exec(line);
      if (m !== null) acked = Math.max(acked, Number(m[1]));
      // Killed as a checkpoint starts (with up to 2 ms for it to get under way), or after some batches.
      if (killAtCheckpoint && line.startsWith('checkpoint') && acked > first) kill(Math.floor(rnd * 3));
      if (!killAtCheckpoint && acked >= target) kill(0);
    }
  });
  const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
  const [code, signal] = await once(proc, 'exit') as [number | null, string | null];
  clearTimeout(timer);
  assert.equal(signal, 'SIGKILL', `the child ended by itself (${code}): ${err}`);
  return acked;
}

const KILLED = 'SIGKILL at random points, often during a checkpoint: the store is as it was after some batch at or after the last acknowledged';
test(KILLED, { timeout: 120_000 }, async () => {
  const path = fresh();
  const seed = 31;
  const gen = randomBatches(seed);
  const model = new Model();
  let applied = 0;
  for (let round = 0; round < 8; round++) {
    const acked = await crashRound(path, seed, applied + 1, round % 2 === 0, (round * 0.37) % 1);
    assert.ok(acked >= applied, 'acknowledged batches never go backwards');
    const store = lmdb(path);
    const state = await store.load();
    // The model catches up to the last acknowledged batch, then on while it does not match.
    for (; applied < acked; applied++) apply(model, gen.next().value as Op[]);
    let matched = false;
    for (let extra = 0; extra < 400; extra++) {
      try {
        assert.deepEqual(state, model.state());
        matched = true;
        break;
      } catch {
        apply(model, gen.next().value as Op[]);
        applied++;
      }
    }
    assert.ok(matched, `round ${round}: the store matches no batch from ${acked} on`);
    await store.close();
  }
});
