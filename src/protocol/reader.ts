// A bounds-checked cursor over one packet's body. Every read checks the end of the body
// first, so a truncated packet is a Malformed Packet, never an out-of-range read.

import { malformed } from './errors.js';
import { decodeUtf8 } from './utf8.js';

export class Reader {
  buf: Buffer = Buffer.alloc(0);
  pos = 0;
  end = 0;

  reset(buf: Buffer, start: number, end: number): this {
    this.buf = buf;
    this.pos = start;
    this.end = end;
    return this;
  }

  remaining(): number {
    return this.end - this.pos;
  }

  atEnd(): boolean {
    return this.pos >= this.end;
  }

  private need(n: number, what: string): void {
    if (this.end - this.pos < n) throw malformed(`packet ends inside ${what}`);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.pos++];
  }

  u16(what: string): number {
    this.need(2, what);
    const v = (this.buf[this.pos] << 8) | this.buf[this.pos + 1];
    this.pos += 2;
    return v;
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** Variable Byte Integer: at most 4 bytes and minimally encoded [MQTT-1.5.5-1]. */
  varint(what: string): number {
    let value = 0;
    let multiplier = 1;
    for (let i = 0; i < 4; i++) {
      this.need(1, what);
      const b = this.buf[this.pos++];
      value += (b & 0x7f) * multiplier;
      if ((b & 0x80) === 0) {
        if (b === 0 && i > 0) throw malformed(`${what} is not minimally encoded`);
        return value;
      }
      multiplier *= 128;
    }
    throw malformed(`${what} is longer than 4 bytes`);
  }

  /** Length-prefixed UTF-8 string, validated per [MQTT-1.5.4-1] and [MQTT-1.5.4-2]. */
  utf8(what: string): string {
    const len = this.u16(what);
    this.need(len, what);
    const start = this.pos;
    this.pos += len;
    const s = decodeUtf8(this.buf, start, this.pos);
    if (s === undefined) throw malformed(`${what} is not well-formed UTF-8 or contains U+0000`);
    return s;
  }

  /** Length-prefixed Binary Data; a view into the packet, not a copy. */
  binary(what: string): Buffer {
    const len = this.u16(what);
    this.need(len, what);
    const start = this.pos;
    this.pos += len;
    return this.buf.subarray(start, this.pos);
  }

  /** The rest of the body, as a view. */
  rest(): Buffer {
    const out = this.buf.subarray(this.pos, this.end);
    this.pos = this.end;
    return out;
  }

  /** [MQTT-2.1.1] A packet's fields fill exactly its Remaining Length. */
  expectEnd(what: string): void {
    if (this.pos !== this.end) throw malformed(`${this.end - this.pos} unexpected bytes after ${what}`);
  }
}
