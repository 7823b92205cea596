// The journal's files: records come back in order after a restart; a record cut short by a
// crash ends the journal there; reused segments never bring old records back; checkpointed
// segments are released.

import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FileJournal } from '../../src/store/journal-file.js';

const root = mkdtempSync(join(tmpdir(), 'petrel-journal-test-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => join(root, `j-${n++}`);

const record = (i: number, size = 10 + (i % 50)): Buffer => Buffer.alloc(size, i & 0xff);
const seqs = (records: [number, Buffer][]): number[] => records.map(([s]) => s);

async function write(j: FileJournal, from: number, to: number): Promise<void> {
  for (let i = from; i <= to; i++) await j.append(i, record(i));
}

for (const sync of [true, false]) {
  test(`records come back in order, after the checkpointed ones (${sync ? 'sync' : 'batched'})`, async () => {
    const dir = fresh();
    const j = new FileJournal(dir, sync);
    assert.deepEqual(j.read(0), []);
    await write(j, 1, 100);
    await j.close();
    const again = new FileJournal(dir, sync);
    const all = again.read(0);
    assert.deepEqual(seqs(all), Array.from({ length: 100 }, (_, i) => i + 1));
    for (const [s, b] of all) assert.ok(b.equals(record(s)));
    assert.deepEqual(seqs(new FileJournal(dir, sync).read(60)), Array.from({ length: 40 }, (_, i) => i + 61));
    await again.close();
  });
}

test('a record cut short ends the journal; later starts append after it, in a new segment', async () => {
  const dir = fresh();
  const j = new FileJournal(dir, true);
  await write(j, 1, 10);
  await j.close();
  const [segment] = readdirSync(dir);
  const path = join(dir, segment);
  const size = readFileSync(path).length;
  // The last record loses its last byte, as when the process dies in the middle of its write.
  truncateSync(path, size - 1);
  const again = new FileJournal(dir, true);
  assert.deepEqual(seqs(again.read(0)), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  await again.append(11, record(11));
  await again.close();
  assert.deepEqual(seqs(new FileJournal(dir, true).read(0)), [1, 2, 3, 4, 5, 6, 7, 8, 9, 11]);
});

test('damaged bytes in a record end the journal there, as does garbage after the last record', async () => {
  const dir = fresh();
  const j = new FileJournal(dir, true);
  await write(j, 1, 5);
  await j.close();
  const [segment] = readdirSync(dir);
  const path = join(dir, segment);
  appendFileSync(path, Buffer.alloc(40, 0xab));
  assert.deepEqual(seqs(new FileJournal(dir, true).read(0)), [1, 2, 3, 4, 5]);
  const data = readFileSync(path);
  // Flip one payload byte of the third record (each record: 16-byte header + payload).
  let pos = 0;
  for (let i = 1; i < 3; i++) pos += 16 + record(i).length;
  data[pos + 16 + 2] ^= 1;
  writeFileSync(path, data);
  assert.deepEqual(seqs(new FileJournal(dir, true).read(0)), [1, 2]);
});

test('released segments are reused, and what they held before never comes back', async () => {
  const dir = fresh();
  const j = new FileJournal(dir, true);
  j.read(0);
  // Big records early, small ones later: a reused file holds old records past the new ones.
  for (let i = 1; i <= 20; i++) await j.append(i, record(i, 2000));
  const first = j.rotate();
  await write(j, 21, 25);
  j.release(first);
  assert.ok(readdirSync(dir).some((f) => f.startsWith('spare-')), 'the released segment is kept as a spare');
  j.rotate();
  // The next segment is the spare, renamed: its first bytes are new records, the rest old ones.
  await write(j, 26, 28);
  assert.ok(!readdirSync(dir).some((f) => f.startsWith('spare-')), 'the spare was taken');
  await j.close();
  // The checkpoint covers 20: 21-28 come back, and nothing of the old 1-20 still in the reused file.
  assert.deepEqual(seqs(new FileJournal(dir, true).read(20)), [21, 22, 23, 24, 25, 26, 27, 28]);
});

test('a segment released while a write to it is under way is not reused before that write is done', async () => {
  for (let round = 0; round < 20; round++) {
    const dir = fresh();
    const j = new FileJournal(dir, true);
    j.read(0);
    // The checkpoint can be on disk before the last record it covers: its write is still under way here.
    const pending = j.append(1, record(1, 3000));
    j.release(j.rotate());
    assert.deepEqual(readdirSync(dir), ['000000000001.journal'], 'kept, not yet a spare');
    const next = j.append(2, record(2, 10));
    await Promise.all([pending, next]);
    await j.close();
    assert.deepEqual(seqs(new FileJournal(dir, true).read(1)), [2], `round ${round}`);
  }
});

test('rotation starts a new segment; release deletes only the ones before it', async () => {
  const dir = fresh();
  const j = new FileJournal(dir, false);
  j.read(0);
  await write(j, 1, 3);
  const first = j.rotate();
  await write(j, 4, 6);
  const before = j.bytes;
  j.release(first);
  assert.ok(j.bytes < before);
  await j.close();
  assert.deepEqual(seqs(new FileJournal(dir, false).read(3)), [4, 5, 6]);
});

test('records out of order across segments are refused, not replayed', async () => {
  const dir = fresh();
  const j = new FileJournal(dir, false);
  await write(j, 5, 6);
  j.rotate();
  await write(j, 3, 4);
  await j.close();
  assert.throws(() => new FileJournal(dir, false).read(0), /out of order/);
});
