// The journal on disk: records appended to segment files, each write made durable by the file
// being opened with O_DSYNC (`sync`), so one write system call is one commit. An LMDB commit
// flushed to disk costs several times the CPU of that (measured: about 300 us against 80-140 us
// per commit here), and a broker under load commits about a thousand times a second.
//
// A segment is named by a number that only grows. A record is a 16-byte header (payload length,
// sequence number, checksum) and its payload. A crash can leave the last record written cut
// short; its checksum tells, and reading stops there. That record was never acknowledged: its
// write had not returned. After a failed write nothing more goes to that segment, so a damaged
// record is always the last of its segment.
//
// Checkpoints (lmdb.ts) start a new segment; once a checkpoint is flushed, the segments before
// it hold only records it covers. They are kept as spares and written over later: writing over
// a file's existing blocks needs no change to its metadata, and costs half as much as growing
// it. Past the new records, a reused segment holds old ones: numbered at or below the
// checkpoint, and below the new ones, so reading stops at the first record that does not
// follow the one before it.

import { closeSync, constants, fdatasync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writev } from 'node:fs';
import { endianness } from 'node:os';
import { dirname, join } from 'node:path';

const HEADER = 16;
const HAS_DSYNC = typeof constants.O_DSYNC === 'number';
/** A segment past this size makes way for the next one, so a window's journal can go to reused files. */
const SEGMENT_BYTES = 16 << 20;
const MAX_SPARES = 4;
const SEGMENT = /^(\d{12})\.journal$/;
const SPARE = /^spare-(\d+)\.journal$/;

interface OpenSegment {
  segment: number;
  fd: number;
  /** Writes under way: the file is closed only once they are done, as its number could be reused. */
  writing: number;
  /** No more writes go to it. */
  retired: boolean;
  /** A checkpoint covers it: it is released once its writes are done. */
  released: boolean;
  /** Settles once every write to it so far has, rejecting if any failed. */
  last: Promise<void> | undefined;
}

export class FileJournal {
  private segment = 0;
  private file: OpenSegment | undefined;
  /** Segments open for writing, or with writes still under way: not to be released or reused before those end. */
  private readonly open = new Map<number, OpenSegment>();
  /** Bytes written to the current segment. */
  private size = 0;
  /** Bytes written to the segments still in use, for the store's size limit. */
  private total = 0;
  private readonly sizes = new Map<number, number>();
  private readonly spares: string[] = [];
  private nextSpare = 0;

  /** `sync`: a write returns once the disk has it. */
  constructor(private readonly dir: string, private readonly sync: boolean) {
    if (mkdirSync(dir, { recursive: true }) !== undefined) fsyncDir(dirname(dir));
    for (const name of readdirSync(dir)) {
      const m = SPARE.exec(name);
      if (m === null) continue;
      this.spares.push(join(dir, name));
      this.nextSpare = Math.max(this.nextSpare, Number(m[1]) + 1);
    }
    // Appends go to a segment of their own, after any on disk: the last may end in a damaged record.
    this.segment = this.segments().pop() ?? 0;
  }

  get bytes(): number {
    return this.total;
  }

  /** The records after `afterSeq`, in order, from every segment on disk (read at start, before any append). */
  read(afterSeq: number): [number, Buffer][] {
    const out: [number, Buffer][] = [];
    let last = afterSeq;
    this.total = 0;
    for (const n of this.segments()) {
      const data = readFileSync(this.path(n));
      let previous = -1;
      let pos = 0;
      while (pos + HEADER <= data.length) {
        const length = data.readUInt32LE(pos);
        const seq = data.readUInt32LE(pos + 4) + data.readUInt32LE(pos + 8) * 2 ** 32;
        const end = pos + HEADER + length;
        if (end > data.length || seq <= previous || checksum(data, pos + HEADER, end, length, seq) !== data.readUInt32LE(pos + 12)) break;
        if (seq > afterSeq) {
          if (seq <= last) throw new Error(`journal segment ${n}: record ${seq} out of order after ${last}`);
          out.push([seq, data.subarray(pos + HEADER, end)]);
          last = seq;
        }
        previous = seq;
        pos = end;
      }
      this.sizes.set(n, pos);
      this.total += pos;
    }
    return out;
  }

  /**
   * Writes one record; resolves once written (and, in `sync`, on disk). Writes may overlap: one
   * that ends before an earlier one in the same segment still waits for it, and fails with it,
   * as a record after a damaged one is never read.
   */
  append(seq: number, record: Buffer): Promise<void> {
    if (this.file !== undefined && this.size >= SEGMENT_BYTES) this.rotate();
    const file = this.file ?? this.next();
    const header = Buffer.allocUnsafe(HEADER);
    header.writeUInt32LE(record.length, 0);
    header.writeUInt32LE(seq >>> 0, 4);
    header.writeUInt32LE(Math.floor(seq / 2 ** 32), 8);
    header.writeUInt32LE(checksum(record, 0, record.length, record.length, seq), 12);
    const position = this.size;
    const n = HEADER + record.length;
    this.size += n;
    this.total += n;
    this.sizes.set(this.segment, this.size);
    file.writing++;
    const write = new Promise<void>((resolve, reject) => {
      const done = (err: Error | null): void => {
        if (--file.writing === 0 && file.retired) this.closed(file);
        if (err === null) {
          resolve();
          return;
        }
        // Nothing more goes to this segment: the next record starts a new one.
        if (this.file === file) this.rotate();
        reject(err);
      };
      writev(file.fd, [header, record], position, (err, written) => {
        if (err === null && written !== n) err = new Error(`journal: short write (${written} of ${n} bytes)`);
        // Where the platform has no O_DSYNC, the write is followed by a flush of its own.
        if (err === null && this.sync && !HAS_DSYNC) fdatasync(file.fd, done);
        else done(err);
      });
    });
    // A record after a damaged one in the same segment is never read: it fails with it.
    const before = file.last;
    return (file.last = before === undefined ? write : write.then(() => before));
  }

  /** The next segment: a spare renamed, or a new file. Its name must be on disk before a record in it counts. */
  private next(): OpenSegment {
    this.segment++;
    const path = this.path(this.segment);
    const spare = this.spares.pop();
    if (spare !== undefined) renameSync(spare, path);
    // O_APPEND is not used: a write after a short one must not land past a hole.
    const exclusive = spare === undefined ? constants.O_EXCL : 0;
    const dsync = this.sync && HAS_DSYNC ? constants.O_DSYNC : 0;
    const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | exclusive | dsync, 0o644);
    if (this.sync) fsyncDir(this.dir);
    this.size = 0;
    this.sizes.set(this.segment, 0);
    this.file = { segment: this.segment, fd, writing: 0, retired: false, released: false, last: undefined };
    this.open.set(this.segment, this.file);
    return this.file;
  }

  /** A retired segment's last write is done: its file closes, and goes if a checkpoint released it meanwhile. */
  private closed(file: OpenSegment): void {
    closeSync(file.fd);
    this.open.delete(file.segment);
    if (file.released) this.drop(file.segment);
  }

  /**
   * Later records go to a new segment; returns its number, the first that a checkpoint of
   * everything appended so far does not cover.
   */
  rotate(): number {
    const file = this.file;
    if (file !== undefined) {
      this.file = undefined;
      file.retired = true;
      if (file.writing === 0) this.closed(file);
    }
    return this.segment + 1;
  }

  /** The segments before `first` are covered by a durable checkpoint: they become spares, or go. */
  release(first: number): void {
    for (const n of this.segments()) {
      if (n >= first) continue;
      // A write can still be under way in it (a checkpoint may be on disk before the record before
      // it is): reused now, the segment would take that write over its new records.
      const file = this.open.get(n);
      if (file !== undefined) file.released = true;
      else this.drop(n);
    }
  }

  private drop(n: number): void {
    const path = this.path(n);
    // Losing this rename in a power cut is harmless: the segment holds only records a checkpoint has.
    if (this.spares.length < MAX_SPARES) {
      const spare = join(this.dir, `spare-${this.nextSpare++}.journal`);
      renameSync(path, spare);
      this.spares.push(spare);
    } else {
      rmSync(path, { force: true });
    }
    this.total -= this.sizes.get(n) ?? 0;
    this.sizes.delete(n);
  }

  /** Closes the current segment once its writes are done; spares go, as nothing will reuse them. */
  async close(): Promise<void> {
    this.rotate();
    await Promise.allSettled([...this.open.values()].map((f) => f.last));
    for (const spare of this.spares.splice(0)) rmSync(spare, { force: true });
  }

  private segments(): number[] {
    const out: number[] = [];
    for (const name of readdirSync(this.dir)) {
      const m = SEGMENT.exec(name);
      if (m !== null) out.push(Number(m[1]));
    }
    return out.sort((a, b) => a - b);
  }

  private path(n: number): string {
    return join(this.dir, `${String(n).padStart(12, '0')}.journal`);
  }
}

/** Makes a directory's entries durable (Windows cannot open a directory for this; NTFS journals them). */
function fsyncDir(dir: string): void {
  if (process.platform === 'win32') return;
  const fd = openSync(dir, constants.O_RDONLY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

const LITTLE_ENDIAN = endianness() === 'LE';

/**
 * A 32-bit checksum of bytes [start, end) with the record's length and sequence number: enough
 * to tell a record cut short or never written from one that is whole. It mixes four bytes at a
 * time (little-endian words), through a word view when the bytes are aligned for one.
 */
function checksum(b: Buffer, start: number, end: number, length: number, seq: number): number {
  let h = Math.imul(length ^ 0x9e3779b9, 0x85ebca6b) ^ (seq >>> 0) ^ Math.floor(seq / 2 ** 32);
  const n = (end - start) >>> 2;
  if (LITTLE_ENDIAN && ((b.byteOffset + start) & 3) === 0) {
    const words = new Int32Array(b.buffer, b.byteOffset + start, n);
    for (let w = 0; w < n; w++) {
      h = Math.imul(h ^ words[w], 0x5bd1e995);
      h ^= h >>> 15;
    }
  } else {
    for (let w = 0; w < n; w++) {
      h = Math.imul(h ^ b.readInt32LE(start + 4 * w), 0x5bd1e995);
      h ^= h >>> 15;
    }
  }
  for (let i = start + 4 * n; i < end; i++) {
    h = Math.imul(h ^ b[i], 0x5bd1e995);
    h ^= h >>> 15;
  }
  return h >>> 0;
}
