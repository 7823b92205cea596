// Shared helpers for codec tests: decode whole byte streams, compare packets as plain data.

import assert from 'node:assert/strict';
import { Decoder, encode, ProtocolError, type Packet, type ProtocolVersion } from '../../src/protocol/index.js';

/** Packets a client sends; everything else is decoded on the client side. */
const FROM_CLIENT = new Set([1, 8, 10, 12]);

/** A decoder for packets of this type, past CONNECT where the server side needs it. */
export function decoderFor(type: number, version: ProtocolVersion): Decoder {
  // A 3.x DISCONNECT goes only from client to server.
  const fromClient = FROM_CLIENT.has(type) || (type === 14 && version < 5);
  if (!fromClient) return new Decoder({ side: 'client', protocolVersion: version });
  const d = new Decoder();
  if (type !== 1) {
    d.push(encode({ type: 1, protocolVersion: version, clean: true, keepAlive: 0, clientId: 'c' }, version));
    assert.equal(d.next()?.type, 1);
  }
  return d;
}

export function decodeAll(d: Decoder, bytes: Buffer): Packet[] {
  d.push(bytes);
  const out: Packet[] = [];
  for (let p = d.next(); p !== undefined; p = d.next()) out.push(p);
  return out;
}

/** Removes undefined fields so encode inputs and decode outputs compare as data. */
export function plain(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return Buffer.from(value);
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = plain(v);
    return out;
  }
  return value;
}

/** Encodes, decodes on the right side, and checks the packet came back the same. */
export function roundTrip(packet: Packet, version: ProtocolVersion, expected: Packet = packet): Buffer {
  const bytes = encode(packet, version);
  const decoded = decodeAll(decoderFor(packet.type, version), bytes);
  assert.equal(decoded.length, 1);
  assert.deepEqual(plain(decoded[0]), plain(expected));
  return bytes;
}

/** The ProtocolError that decoding these bytes raises (after a CONNECT of `version`, unless raw). */
export function decodeError(bytes: Buffer, version: ProtocolVersion | undefined, side: 'server' | 'client' = 'server'): ProtocolError {
  const d = side === 'client'
    ? new Decoder({ side, protocolVersion: version ?? 5 })
    : version === undefined ? new Decoder() : serverAfterConnect(version);
  try {
    decodeAll(d, bytes);
  } catch (err) {
    assert.ok(err instanceof ProtocolError, `expected a ProtocolError, got ${String(err)}`);
    return err;
  }
  assert.fail('decoding succeeded');
}

function serverAfterConnect(version: ProtocolVersion): Decoder {
  const d = new Decoder();
  d.push(encode({ type: 1, protocolVersion: version, clean: true, keepAlive: 0, clientId: 'c' }, version));
  d.next();
  return d;
}

/** Builds a packet from its first byte and body, with a correct Remaining Length. */
export function raw(firstByte: number, ...body: (number | number[] | Buffer | string)[]): Buffer {
  const parts: Buffer[] = body.map((b) =>
    typeof b === 'number' ? Buffer.from([b]) : typeof b === 'string' ? str(b) : Buffer.isBuffer(b) ? b : Buffer.from(b));
  const payload = Buffer.concat(parts);
  const len: number[] = [];
  let n = payload.length;
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    len.push(byte);
  } while (n > 0);
  return Buffer.concat([Buffer.from([firstByte, ...len]), payload]);
}

/** A length-prefixed UTF-8 string. */
export function str(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
}

/** A v5 property set: its length then the given property bytes. */
export function props(...bytes: (number | number[] | Buffer)[]): Buffer {
  const inner = Buffer.concat(bytes.map((b) => (typeof b === 'number' ? Buffer.from([b]) : Buffer.from(b))));
  assert.ok(inner.length < 128);
  return Buffer.concat([Buffer.from([inner.length]), inner]);
}
