// The decoder is incremental: however a byte stream of valid packets is cut into chunks (at any
// points, 1-byte chunks, empty chunks, one chunk), and whether packets are taken after every push
// or only at the end, the same packets come out as from the stream in one chunk. A PUBLISH that
// lies within one chunk is decoded in place: its payload is a view into that chunk.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Decoder, Packet, ProtocolVersion, PublishPacket } from '../../src/protocol/index.js';
import { canon, decodeChunks, encodeStream, newDecoder, streamArb, VERSIONS, type PacketStream } from './arbitraries.js';

const NUM_RUNS = 200;
const SIDES = ['server', 'client'] as const;

interface Encoded {
  stream: PacketStream;
  whole: Buffer;
  /** Byte offset of each packet in `whole`, and the end of the last. */
  offsets: number[];
}

function encodeAll(stream: PacketStream): Encoded {
  const parts = encodeStream(stream);
  const offsets = [0];
  for (const part of parts) offsets.push(offsets[offsets.length - 1] + part.length);
  return { stream, whole: Buffer.concat(parts), offsets };
}

/**
 * Cuts `whole` at the given points (sorted; repeats give empty chunks). Each chunk gets its own
 * ArrayBuffer, so that "a view into this chunk" can be told apart from a copy: small Buffers
 * made by Buffer.from or allocUnsafe share Node's pool.
 */
function cut(whole: Buffer, points: readonly number[]): { chunks: Buffer[]; starts: number[] } {
  const bounds = [0, ...[...points].sort((a, b) => a - b), whole.length];
  const chunks: Buffer[] = [];
  const starts: number[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const chunk = Buffer.from(new ArrayBuffer(bounds[i + 1] - bounds[i]));
    whole.copy(chunk, 0, bounds[i], bounds[i + 1]);
    chunks.push(chunk);
    starts.push(bounds[i]);
  }
  return { chunks, starts };
}

/** Takes every packet that is complete. */
function drain(d: Decoder): Packet[] {
  const out: Packet[] = [];
  for (let p = d.next(); p !== undefined; p = d.next()) out.push(p);
  return out;
}

/** Pushes every chunk first, then takes all packets. */
function decodeAtEnd(d: Decoder, chunks: readonly Buffer[]): Packet[] {
  for (const chunk of chunks) d.push(chunk);
  return drain(d);
}

function decodeWhole(e: Encoded): Packet[] {
  const d = newDecoder(e.stream.version, e.stream.side);
  const out = decodeChunks(d, [e.whole]);
  assert.equal(d.bufferedBytes, 0);
  return out;
}

/**
 * Checks every decoded PUBLISH payload against the chunks: a view into the chunk when the whole
 * packet lies within that chunk (no copy), else its own memory (the packet was assembled).
 */
function checkPayloadViews(e: Encoded, packets: Packet[], chunks: Buffer[], starts: number[]): number {
  let views = 0;
  packets.forEach((p, i) => {
    if (p.type !== 3) return;
    const payload = (p as PublishPacket).payload;
    const begin = e.offsets[i];
    const end = e.offsets[i + 1];
    // The chunk holding the packet's first byte (the last one starting at or before it that is
    // not empty).
    let c = -1;
    for (let j = 0; j < chunks.length; j++) if (starts[j] <= begin && chunks[j].length > 0) c = j;
    const chunk = chunks[c];
    if (end <= starts[c] + chunk.length) {
      assert.equal(payload.buffer, chunk.buffer, `payload of packet ${i} is not a view into its chunk`);
      // The payload is the packet's tail.
      assert.equal(payload.byteOffset, chunk.byteOffset + (end - payload.length - starts[c]));
      views++;
    } else {
      for (const other of chunks) assert.notEqual(payload.buffer, other.buffer);
    }
  });
  return views;
}

/** A stream with its encoding and cut points anywhere in it (repeats allowed: empty chunks). */
function encodedWithCuts(version: ProtocolVersion, side: 'server' | 'client'): fc.Arbitrary<[Encoded, number[]]> {
  return streamArb(version, side).map(encodeAll).chain((e) =>
    fc.tuple(fc.constant(e), fc.array(fc.integer({ min: 0, max: e.whole.length }), { maxLength: 20 })));
}

for (const version of VERSIONS) {
  for (const side of SIDES) {
    const name = `v${version} ${side === 'server' ? 'client-to-server' : 'server-to-client'} stream`;

    test(`chunking ${name}: one chunk decodes to the packets encoded`, () => {
      fc.assert(fc.property(streamArb(version, side).map(encodeAll), (e) => {
        const packets = decodeWhole(e);
        assert.deepStrictEqual(canon(packets, true), canon(e.stream.packets, true));
        // In one chunk, every PUBLISH payload is a view into it.
        const { chunks, starts } = cut(e.whole, []);
        const again = decodeChunks(newDecoder(version, side), chunks);
        const publishes = again.filter((p) => p.type === 3).length;
        assert.equal(checkPayloadViews(e, again, chunks, starts), publishes);
      }), { numRuns: NUM_RUNS });
    });

    test(`chunking ${name}: arbitrary cut points give the packets of one chunk`, () => {
      fc.assert(fc.property(encodedWithCuts(version, side), fc.boolean(), ([e, points], drainEachPush) => {
        const reference = decodeWhole(e);
        const { chunks, starts } = cut(e.whole, points);
        const d = newDecoder(version, side);
        const packets = drainEachPush ? decodeChunks(d, chunks) : decodeAtEnd(d, chunks);
        assert.equal(d.bufferedBytes, 0);
        assert.deepStrictEqual(canon(packets, true), canon(reference, true));
        checkPayloadViews(e, packets, chunks, starts);
      }), { numRuns: NUM_RUNS });
    });

    test(`chunking ${name}: 1-byte chunks give the packets of one chunk`, () => {
      fc.assert(fc.property(streamArb(version, side, 4).map(encodeAll), (e) => {
        const reference = decodeWhole(e);
        const points = Array.from({ length: e.whole.length - 1 }, (_, i) => i + 1);
        const { chunks, starts } = cut(e.whole, points);
        const d = newDecoder(version, side);
        const packets: Packet[] = [];
        // After each byte but a packet's last, nothing is ready; after its last, exactly it.
        let next = 0;
        for (let i = 0; i < chunks.length; i++) {
          d.push(chunks[i]);
          const ready = drain(d);
          const completes = e.offsets[next + 1] === i + 1;
          assert.equal(ready.length, completes ? 1 : 0, `after byte ${i}`);
          if (completes) next++;
          packets.push(...ready);
        }
        assert.equal(d.bufferedBytes, 0);
        assert.deepStrictEqual(canon(packets, true), canon(reference, true));
        checkPayloadViews(e, packets, chunks, starts);
      }), { numRuns: Math.floor(NUM_RUNS / 2) });
    });
  }
}

test('chunking: a PUBLISH within a larger chunk, among other packets, is a view at the right offset', () => {
  // Deterministic companion of the properties above: three PUBLISH packets in one chunk, then the
  // same bytes cut inside the second packet; the first and third stay views, the second is a copy.
  const e = encodeAll({
    version: 5,
    side: 'client',
    packets: [1, 2, 3].map((n): PublishPacket => ({
      type: 3, topic: `t/${n}`, payload: Buffer.alloc(n * 10, n), qos: 1, retain: false, dup: false, packetId: n,
    })),
  });
  const one = cut(e.whole, []);
  const whole = decodeChunks(newDecoder(5, 'client'), one.chunks);
  assert.equal(checkPayloadViews(e, whole, one.chunks, one.starts), 3);
  const mid = e.offsets[1] + 5;
  const two = cut(e.whole, [mid]);
  const split = decodeChunks(newDecoder(5, 'client'), two.chunks);
  assert.equal(checkPayloadViews(e, split, two.chunks, two.starts), 2);
  assert.deepStrictEqual(canon(split, true), canon(whole, true));
  for (const p of split) assert.deepStrictEqual((p as PublishPacket).payload, Buffer.alloc((p as PublishPacket).packetId * 10, (p as PublishPacket).packetId));
});

test('an incomplete packet at the end of a large chunk is kept as a copy: the chunk is not pinned, and packets still come out whole', async () => {
  const { Decoder: DecoderClass, encode, PacketType } = await import('../../src/protocol/index.js');
  const connect = encode({ type: PacketType.CONNECT, protocolVersion: 4, clean: true, keepAlive: 0, clientId: 'c' }, 4);
  const payloads = Array.from({ length: 10 }, (_, i) => Buffer.alloc(7000, 0x61 + i));
  const publishes = payloads.map((payload, i) => encode({
    type: PacketType.PUBLISH, topic: `t/${i}`, payload, qos: 0, retain: false, dup: false, packetId: 0,
  }, 4));
  const whole = Buffer.concat([connect, ...publishes]);
  // Each chunk in its own ArrayBuffer, as a socket read gives it.
  const first = Buffer.from(whole.subarray(0, 65536));
  const rest = Buffer.from(whole.subarray(65536));
  const decoder = new DecoderClass();
  decoder.push(first);
  const got: Packet[] = [];
  for (let p = decoder.next(); p !== undefined; p = decoder.next()) got.push(p);
  assert.equal(got.length, 1 + 9, 'CONNECT and the nine PUBLISH within the first chunk');
  // Payloads decoded in place are views of the chunk; the partial tenth packet is not.
  const pinned = (decoder as unknown as { chunks: Buffer[] }).chunks;
  assert.equal(pinned.length, 1);
  assert.notEqual(pinned[0].buffer, first.buffer, 'the few bytes waiting for the rest no longer hold the 64 KiB chunk');
  decoder.push(rest);
  for (let p = decoder.next(); p !== undefined; p = decoder.next()) got.push(p);
  const published = got.slice(1) as PublishPacket[];
  assert.deepEqual(published.map((p) => p.topic), payloads.map((_, i) => `t/${i}`));
  published.forEach((p, i) => assert.ok(p.payload.equals(payloads[i]), `payload ${i}`));
});
