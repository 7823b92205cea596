// Reads the journal's records (codec.ts writes them), applying each operation in order to a
// sink with the Store's write methods: the overlay when the journal is replayed at start.

import {
  AWAITING, HAS_DELIVERY, HAS_EXPIRY, HAS_ORIGIN, HAS_PROPERTIES, HAS_SHARED, HAS_SUBSCRIPTION_IDS, OP, RETAIN, TAG,
  type StoreWrites,
} from './codec.js';
import type { StoredDelivery, StoredInflight, StoredMessage, StoredSession, StoredSubscription } from './store.js';

const float = new Float64Array(1);
const floatBytes = new Uint8Array(float.buffer);

/** Applies every operation of a record, in order, to `sink`. Throws on a malformed record. */
export function readRecord(record: Buffer, sink: StoreWrites): void {
  new RecordReader(record).apply(sink);
}

class RecordReader {
  private pos = 0;
  private client = '';

  constructor(private readonly buf: Buffer) {}

  apply(sink: StoreWrites): void {
    while (this.pos < this.buf.length) {
      const code = this.buf[this.pos++];
      switch (code) {
        case OP.PutSession: sink.putSession(this.value() as StoredSession); break;
        case OP.DeleteSession: sink.deleteSession(this.clientId()); break;
        case OP.PutSubscription: sink.putSubscription(this.clientId(), this.string(), this.value() as StoredSubscription); break;
        case OP.DeleteSubscription: sink.deleteSubscription(this.clientId(), this.string()); break;
        case OP.PutMessage: sink.putMessage(this.uint(), this.message()); break;
        case OP.DeleteMessage: sink.deleteMessage(this.uint()); break;
        case OP.PutQueued: sink.putQueued(this.clientId(), this.uint(), this.delivery()); break;
        case OP.DeleteQueued: sink.deleteQueued(this.clientId(), this.uint()); break;
        case OP.PutInflight: sink.putInflight(this.clientId(), this.uint(), this.inflight()); break;
        case OP.DeleteInflight: sink.deleteInflight(this.clientId(), this.uint()); break;
        case OP.PutAwaitingRelease: sink.putAwaitingRelease(this.clientId(), this.uint()); break;
        case OP.DeleteAwaitingRelease: sink.deleteAwaitingRelease(this.clientId(), this.uint()); break;
        case OP.PutRetained: sink.putRetained(this.string(), this.uint()); break;
        case OP.DeleteRetained: sink.deleteRetained(this.string()); break;
        default: throw new Error(`journal record: unknown operation ${code} at byte ${this.pos - 1}`);
      }
    }
    if (this.pos !== this.buf.length) throw new Error('journal record: truncated');
  }

  private byte(): number {
    if (this.pos >= this.buf.length) throw new Error('journal record: truncated');
    return this.buf[this.pos++];
  }

  private uint(): number {
    let n = 0;
    let scale = 1;
    for (;;) {
      const b = this.byte();
      n += (b & 0x7f) * scale;
      if (b < 0x80) return n;
      scale *= 0x80;
    }
  }

  private string(): string {
    const n = this.uint();
    if (this.pos + n > this.buf.length) throw new Error('journal record: truncated');
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  private bytes(): Buffer {
    const n = this.uint();
    if (this.pos + n > this.buf.length) throw new Error('journal record: truncated');
    // A copy: the record's buffer is not kept alive by what is read from it.
    const b = Buffer.from(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return b;
  }

  private clientId(): string {
    if (this.byte() === 1) this.client = this.string();
    return this.client;
  }

  private message(): StoredMessage {
    const flags = this.byte();
    const m: StoredMessage = {
      topic: this.string(), payload: this.bytes(), qos: (flags & 3) as StoredMessage['qos'], retain: (flags & RETAIN) !== 0, expiresAt: 0,
    };
    if ((flags & HAS_ORIGIN) !== 0) m.origin = this.string();
    if ((flags & HAS_EXPIRY) !== 0) m.expiresAt = this.value() as number;
    if ((flags & HAS_PROPERTIES) !== 0) m.properties = this.value() as StoredMessage['properties'];
    return m;
  }

  private delivery(): StoredDelivery {
    const messageId = this.uint();
    const flags = this.byte();
    const d: StoredDelivery = { messageId, qos: (flags & 3) as StoredDelivery['qos'], retain: (flags & RETAIN) !== 0 };
    if ((flags & HAS_SUBSCRIPTION_IDS) !== 0) {
      const ids: number[] = [];
      for (let n = this.uint(); n > 0; n--) ids.push(this.uint());
      d.subscriptionIds = ids;
    }
    if ((flags & HAS_SHARED) !== 0) d.shared = this.string();
    return d;
  }

  private inflight(): StoredInflight {
    const b = this.byte();
    const awaiting = AWAITING[b & 3];
    if (awaiting === undefined) throw new Error('journal record: bad inflight state');
    return (b & HAS_DELIVERY) !== 0 ? { awaiting, delivery: this.delivery() } : { awaiting };
  }

  private value(): unknown {
    const tag = this.byte();
    switch (tag) {
      case TAG.Undefined: return undefined;
      case TAG.Null: return null;
      case TAG.False: return false;
      case TAG.True: return true;
      case TAG.Uint: return this.uint();
      case TAG.Float: {
        if (this.pos + 8 > this.buf.length) throw new Error('journal record: truncated');
        for (let i = 0; i < 8; i++) floatBytes[i] = this.buf[this.pos++];
        return float[0];
      }
      case TAG.String: return this.string();
      case TAG.Bytes: return this.bytes();
      case TAG.Array: {
        const out: unknown[] = [];
        for (let n = this.uint(); n > 0; n--) out.push(this.value());
        return out;
      }
      case TAG.Object: {
        const out: Record<string, unknown> = {};
        for (let n = this.uint(); n > 0; n--) {
          const k = this.string();
          out[k] = this.value();
        }
        return out;
      }
      default: throw new Error(`journal record: unknown value tag ${tag}`);
    }
  }
}
