// The journal's binary form: one record per batch, a sequence of domain operations, each
// written as an operation code and its fields (codec-read.ts reads them back). It is written for
// every acknowledged PUBLISH, so it is built by hand for speed (no per-value schema lookups, no
// intermediate objects): a client id repeated by consecutive operations is written once, numbers
// are varints, a payload is copied as it is. Rarely written values (sessions, subscriptions, v5
// properties) use a small tagged encoding of plain data that keeps Buffers Buffers.

import type {
  StoredDelivery, StoredInflight, StoredMessage, StoredSession, StoredSubscription, StoreWrites,
} from './store.js';

export type { StoreWrites } from './store.js';

/** Operation codes: a record's first byte for each operation. */
export const OP = {
  PutSession: 1, DeleteSession: 2, PutSubscription: 3, DeleteSubscription: 4, PutMessage: 5, DeleteMessage: 6,
  PutQueued: 7, DeleteQueued: 8, PutInflight: 9, DeleteInflight: 10, PutAwaitingRelease: 11, DeleteAwaitingRelease: 12,
  PutRetained: 13, DeleteRetained: 14,
} as const;

// Flags of a message and of a delivery: QoS in the low two bits.
export const RETAIN = 4;
export const HAS_PROPERTIES = 8;
export const HAS_ORIGIN = 16;
export const HAS_EXPIRY = 32;
export const HAS_SUBSCRIPTION_IDS = 8;
export const HAS_SHARED = 16;
/** An inflight entry's state in its low two bits, and whether the delivery follows. */
export const AWAITING = ['puback', 'pubrec', 'pubcomp'] as const;
export const HAS_DELIVERY = 4;

/** Tags of the plain-data encoding. */
export const TAG = { Undefined: 0, Null: 1, False: 2, True: 3, Uint: 4, Float: 5, String: 6, Bytes: 7, Array: 8, Object: 9 } as const;

const float = new Float64Array(1);
const floatBytes = new Uint8Array(float.buffer);

/** Builds one record at a time in a buffer of its own; take() hands the record out. */
export class RecordWriter implements StoreWrites {
  private buf = Buffer.allocUnsafe(1 << 16);
  private pos = 0;
  /** The client id of the previous operation: written as "same" when it repeats. */
  private client: string | undefined;

  get empty(): boolean {
    return this.pos === 0;
  }

  /**
   * The record so far, in a buffer of its own (it is written while the next one is built); the
   * writer starts the next one. A large record keeps the writer's buffer, which is replaced,
   * rather than being copied out of it.
   */
  take(): Buffer {
    const n = this.pos;
    this.pos = 0;
    this.client = undefined;
    if (n < 1 << 14) {
      const out = Buffer.allocUnsafe(n);
      this.buf.copy(out, 0, 0, n);
      return out;
    }
    const out = this.buf.subarray(0, n);
    this.buf = Buffer.allocUnsafe(1 << 16);
    return out;
  }

  putSession(session: StoredSession): void {
    this.op(OP.PutSession);
    this.value(session);
  }

  deleteSession(clientId: string): void {
    this.op(OP.DeleteSession);
    this.clientId(clientId);
  }

  putSubscription(clientId: string, filter: string, subscription: StoredSubscription): void {
    this.op(OP.PutSubscription);
    this.clientId(clientId);
    this.string(filter);
    this.value(subscription);
  }

  deleteSubscription(clientId: string, filter: string): void {
    this.op(OP.DeleteSubscription);
    this.clientId(clientId);
    this.string(filter);
  }

  putMessage(id: number, m: StoredMessage): void {
    this.op(OP.PutMessage);
    this.uint(id);
    let flags = m.qos | (m.retain ? RETAIN : 0);
    if (m.properties !== undefined) flags |= HAS_PROPERTIES;
    if (m.origin !== undefined) flags |= HAS_ORIGIN;
    if (m.expiresAt !== 0) flags |= HAS_EXPIRY;
    this.u8(flags);
    this.string(m.topic);
    this.bytes(m.payload);
    if (m.origin !== undefined) this.string(m.origin);
    if (m.expiresAt !== 0) this.value(m.expiresAt);
    if (m.properties !== undefined) this.value(m.properties);
  }

  deleteMessage(id: number): void {
    this.op(OP.DeleteMessage);
    this.uint(id);
  }

  putQueued(clientId: string, seq: number, delivery: StoredDelivery): void {
    this.op(OP.PutQueued);
    this.clientId(clientId);
    this.uint(seq);
    this.delivery(delivery);
  }

  deleteQueued(clientId: string, seq: number): void {
    this.op(OP.DeleteQueued);
    this.clientId(clientId);
    this.uint(seq);
  }

  putInflight(clientId: string, packetId: number, entry: StoredInflight): void {
    this.op(OP.PutInflight);
    this.clientId(clientId);
    this.uint(packetId);
    const awaiting = entry.awaiting === 'puback' ? 0 : entry.awaiting === 'pubrec' ? 1 : 2;
    this.u8(awaiting | (entry.delivery !== undefined ? HAS_DELIVERY : 0));
    if (entry.delivery !== undefined) this.delivery(entry.delivery);
  }

  deleteInflight(clientId: string, packetId: number): void {
    this.op(OP.DeleteInflight);
    this.clientId(clientId);
    this.uint(packetId);
  }

  putAwaitingRelease(clientId: string, packetId: number): void {
    this.op(OP.PutAwaitingRelease);
    this.clientId(clientId);
    this.uint(packetId);
  }

  deleteAwaitingRelease(clientId: string, packetId: number): void {
    this.op(OP.DeleteAwaitingRelease);
    this.clientId(clientId);
    this.uint(packetId);
  }

  putRetained(topic: string, messageId: number): void {
    this.op(OP.PutRetained);
    this.string(topic);
    this.uint(messageId);
  }

  deleteRetained(topic: string): void {
    this.op(OP.DeleteRetained);
    this.string(topic);
  }

  // --- fields -----------------------------------------------------------------------------

  private op(code: number): void {
    this.u8(code);
  }

  private u8(b: number): void {
    if (this.pos === this.buf.length) this.ensure(1);
    this.buf[this.pos++] = b;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }

  private clientId(id: string): void {
    if (id === this.client) {
      this.u8(0);
      return;
    }
    this.client = id;
    this.u8(1);
    this.string(id);
  }

  private delivery(d: StoredDelivery): void {
    this.uint(d.messageId);
    let flags = d.qos | (d.retain ? RETAIN : 0);
    if (d.subscriptionIds !== undefined) flags |= HAS_SUBSCRIPTION_IDS;
    if (d.shared !== undefined) flags |= HAS_SHARED;
    this.u8(flags);
    if (d.subscriptionIds !== undefined) {
      this.uint(d.subscriptionIds.length);
      for (const id of d.subscriptionIds) this.uint(id);
    }
    if (d.shared !== undefined) this.string(d.shared);
  }

  /** A non-negative integer up to 2^53, 7 bits per byte, low bits first. */
  private uint(n: number): void {
    if (this.pos + 8 > this.buf.length) this.ensure(8);
    const buf = this.buf;
    if (n < 0x80000000) {
      while (n >= 0x80) {
        buf[this.pos++] = (n & 0x7f) | 0x80;
        n >>>= 7;
      }
    } else {
      while (n >= 0x80) {
        buf[this.pos++] = (n % 0x80) | 0x80;
        n = Math.floor(n / 0x80);
      }
    }
    buf[this.pos++] = n;
  }

  private string(s: string): void {
    const n = s.length;
    this.ensure(5 + 3 * n);
    const buf = this.buf;
    const start = this.pos;
    this.uint(n);
    let p = this.pos;
    // Client ids and topics are mostly ASCII: then their byte length is their length.
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        this.pos = start;
        this.uint(Buffer.byteLength(s));
        this.pos += buf.write(s, this.pos, 'utf8');
        return;
      }
      buf[p++] = c;
    }
    this.pos = p;
  }

  private bytes(b: Uint8Array): void {
    this.ensure(5 + b.length);
    this.uint(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** Plain data: undefined, null, booleans, numbers, strings, Buffers, arrays and objects of them. */
  private value(v: unknown): void {
    this.ensure(16);
    const buf = this.buf;
    if (v === undefined) buf[this.pos++] = TAG.Undefined;
    else if (v === null) buf[this.pos++] = TAG.Null;
    else if (v === false) buf[this.pos++] = TAG.False;
    else if (v === true) buf[this.pos++] = TAG.True;
    else if (typeof v === 'number') {
      if (Number.isSafeInteger(v) && v >= 0) {
        buf[this.pos++] = TAG.Uint;
        this.uint(v);
      } else {
        buf[this.pos++] = TAG.Float;
        float[0] = v;
        buf.set(floatBytes, this.pos);
        this.pos += 8;
      }
    } else if (typeof v === 'string') {
      buf[this.pos++] = TAG.String;
      this.string(v);
    } else if (v instanceof Uint8Array) {
      buf[this.pos++] = TAG.Bytes;
      this.bytes(v);
    } else if (Array.isArray(v)) {
      buf[this.pos++] = TAG.Array;
      this.uint(v.length);
      for (const item of v) this.value(item);
    } else if (typeof v === 'object') {
      // Keys whose value is undefined are left out, as a structured copy of plain data would.
      const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
      buf[this.pos++] = TAG.Object;
      this.uint(entries.length);
      for (const [k, x] of entries) {
        this.string(k);
        this.value(x);
      }
    } else {
      throw new TypeError(`cannot store a ${typeof v}`);
    }
  }
}
