// A cursor that writes fields into a buffer sized in advance by the encoder.

export function varintSize(n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4;
}

/** Bytes a length-prefixed UTF-8 string takes on the wire. */
export function utf8Size(s: string): number {
  return 2 + Buffer.byteLength(s, 'utf8');
}

export class Writer {
  pos: number;

  constructor(readonly buf: Buffer, start = 0) {
    this.pos = start;
  }

  u8(v: number): void {
    this.buf[this.pos++] = v;
  }

  u16(v: number): void {
    this.buf[this.pos++] = v >>> 8;
    this.buf[this.pos++] = v & 0xff;
  }

  u32(v: number): void {
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
  }

  varint(v: number): void {
    do {
      let b = v % 128;
      v = Math.floor(v / 128);
      if (v > 0) b |= 0x80;
      this.buf[this.pos++] = b;
    } while (v > 0);
  }

  utf8(s: string): void {
    const n = this.buf.write(s, this.pos + 2, 'utf8');
    this.u16(n);
    this.pos += n;
  }

  binary(b: Buffer): void {
    this.u16(b.length);
    this.bytes(b);
  }

  bytes(b: Buffer): void {
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
}
