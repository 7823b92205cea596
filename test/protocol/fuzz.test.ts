// Fuzzing the decoder with fast-check: valid streams (versions 3, 4, 5; both directions) with
// bytes flipped, inserted, deleted or cut off, packets whose body is mutated and re-framed so the
// decoder reaches deep into it, and arbitrary bytes after a valid CONNECT. Whatever comes in,
// the decoder returns packets, waits for more bytes, or throws a ProtocolError with one of the
// reason codes a decoder may give; never another exception, never an endless loop. A packet it
// does return is one the encoder accepts and that decodes back to itself.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Decoder, encode, ProtocolError, type Packet, type ProtocolVersion } from '../../src/protocol/index.js';
import {
  canon, connectArb, connectedServerDecoder, decodeChunks, encodeStream, newDecoder, streamArb, VERSIONS,
} from './arbitraries.js';

const NUM_RUNS = 300;
const SIDES = ['server', 'client'] as const;
type Side = (typeof SIDES)[number];

/**
 * The reason codes a decoder may give: Malformed Packet, Protocol Error, Unsupported Protocol
 * Version (CONNECT), Topic Filter invalid, Topic Name invalid, Topic Alias invalid, Packet too large.
 */
const DECODER_REASON_CODES = new Set([0x81, 0x82, 0x84, 0x8f, 0x90, 0x94, 0x95]);

interface Outcome {
  packets: Packet[];
  error: ProtocolError | undefined;
}

/**
 * Pushes the chunks and takes packets after each, with a bound on the calls to next(): every
 * packet is at least 2 bytes, so more calls than bytes (plus one per chunk) would be a loop.
 */
function run(d: Decoder, chunks: readonly Buffer[]): Outcome {
  const total = chunks.reduce((n, c) => n + c.length, 0);
  let budget = total + chunks.length + 1;
  const packets: Packet[] = [];
  for (const chunk of chunks) {
    d.push(chunk);
    for (;;) {
      assert.ok(budget-- > 0, 'decoder keeps returning packets: endless loop');
      let p: Packet | undefined;
      try {
        p = d.next();
      } catch (err) {
        checkError(err);
        // The failure is final: the same error again, whatever arrives after it.
        assert.throws(() => d.next(), (again: unknown) => again === err);
        d.push(Buffer.from([0x30, 0x00]));
        assert.throws(() => d.next(), (again: unknown) => again === err);
        return { packets, error: err as ProtocolError };
      }
      if (p === undefined) break;
      packets.push(p);
    }
  }
  return { packets, error: undefined };
}

function checkError(err: unknown): void {
  if (!(err instanceof ProtocolError)) {
    assert.fail(`decoder threw ${String(err)}, not a ProtocolError: ${(err as Error)?.stack}`);
  }
  assert.ok(DECODER_REASON_CODES.has(err.reasonCode), `unexpected reason code 0x${err.reasonCode.toString(16)}: ${err.message}`);
  // Decoder.next turns any other exception into a Malformed Packet carrying its text; such an
  // error would be a bug of the decoder (an unchecked read), not a rule the peer broke.
  assert.doesNotMatch(err.message, /^Malformed Packet: \w*Error\b/, 'an internal exception was wrapped');
}

/**
 * What the decoder returns is valid: the encoder accepts it, and decoding that encoding gives
 * the same fields (the decoder never accepts what the encoder refuses, nor drops fields).
 */
function checkPackets(packets: readonly Packet[], side: Side, clientVersion: ProtocolVersion): void {
  let version = clientVersion;
  for (const p of packets) {
    if (p.type === 1) version = p.protocolVersion;
    const bytes = encode(p, version);
    const d = p.type === 1 ? new Decoder() : side === 'server' ? connectedServerDecoder(version) : newDecoder(version, side);
    const again = decodeChunks(d, [bytes]);
    assert.equal(again.length, 1);
    assert.deepStrictEqual(canon(again[0], true), canon(p, true));
  }
}

function fuzzOnce(version: ProtocolVersion, side: Side, chunks: readonly Buffer[], prelude?: Buffer): Outcome {
  const d = newDecoder(version, side);
  const all = prelude === undefined ? chunks : [prelude, ...chunks];
  const outcome = run(d, all);
  checkPackets(outcome.packets, side, version);
  return outcome;
}

// ---------------------------------------------------------------------------------------------
// Mutations

type Mutation =
  | { kind: 'flip'; at: number; mask: number }
  | { kind: 'insert'; at: number; bytes: number[] }
  | { kind: 'delete'; at: number; count: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'set'; at: number; value: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 6 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 6 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  // Boundary bytes: 0x00, 0x7f, 0x80, 0xff are where length and flag checks live.
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.constantFrom(0x00, 0x01, 0x7f, 0x80, 0xc0, 0xff) }),
);

/** Applies mutations in order; positions wrap around the current length. */
function mutate(input: Buffer, mutations: readonly Mutation[]): Buffer {
  let b = Buffer.from(input);
  for (const m of mutations) {
    const n = b.length;
    switch (m.kind) {
      case 'flip':
        if (n > 0) b[m.at % n] ^= m.mask;
        break;
      case 'set':
        if (n > 0) b[m.at % n] = m.value;
        break;
      case 'insert': {
        const at = m.at % (n + 1);
        b = Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(at)]);
        break;
      }
      case 'delete': {
        if (n === 0) break;
        const at = m.at % n;
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.count)]);
        break;
      }
      case 'truncate':
        b = b.subarray(0, m.at % (n + 1));
        break;
    }
  }
  return b;
}

function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}

/** Splits one encoded packet into its first byte and its body (after the Remaining Length). */
function unframe(packet: Buffer): { first: number; body: Buffer } {
  let i = 1;
  while (packet[i] & 0x80) i++;
  return { first: packet[0], body: packet.subarray(i + 1) };
}

function frame(first: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([first, ...varint(body.length)]), body]);
}

/** Cuts a buffer into chunks at the given points (taken modulo its length). */
function chunked(b: Buffer, points: readonly number[]): Buffer[] {
  const cuts = [...new Set(points.map((p) => p % (b.length + 1)))].sort((x, y) => x - y);
  const out: Buffer[] = [];
  let from = 0;
  for (const c of cuts) {
    out.push(b.subarray(from, c));
    from = c;
  }
  out.push(b.subarray(from));
  return out;
}

const cutPoints = fc.array(fc.nat(), { maxLength: 4 });

// ---------------------------------------------------------------------------------------------
// Properties

for (const version of VERSIONS) {
  for (const side of SIDES) {
    const name = `v${version} ${side === 'server' ? 'client-to-server' : 'server-to-client'}`;

    test(`fuzz ${name}: mutated streams give packets or a ProtocolError`, () => {
      fc.assert(fc.property(
        streamArb(version, side, 4), fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.boolean(), cutPoints,
        (stream, mutations, keepConnect, points) => {
          const parts = encodeStream(stream);
          // On the server side, mutate either the whole stream (CONNECT included) or what follows CONNECT.
          if (side === 'server' && keepConnect) {
            const [connect, ...rest] = parts;
            fuzzOnce(version, side, chunked(mutate(Buffer.concat(rest), mutations), points), connect);
          } else {
            fuzzOnce(version, side, chunked(mutate(Buffer.concat(parts), mutations), points));
          }
        },
      ), { numRuns: NUM_RUNS });
    });

    test(`fuzz ${name}: packets with mutated bodies, re-framed, give packets or a ProtocolError`, () => {
      fc.assert(fc.property(
        streamArb(version, side, 4), fc.nat(), fc.array(mutation, { minLength: 1, maxLength: 3 }), cutPoints,
        (stream, which, mutations, points) => {
          // The Remaining Length is rewritten to fit, so the mutation is met by the body's decoder
          // (field reads past the end, trailing bytes, bad values), not by the framing.
          const parts = encodeStream(stream);
          const i = which % parts.length;
          const { first, body } = unframe(parts[i]);
          parts[i] = frame(first, mutate(body, mutations));
          fuzzOnce(version, side, chunked(Buffer.concat(parts), points));
        },
      ), { numRuns: NUM_RUNS });
    });

    test(`fuzz ${name}: a packet truncated inside a stream, re-framed or not`, () => {
      fc.assert(fc.property(
        streamArb(version, side, 4), fc.nat(), fc.nat(), fc.boolean(),
        (stream, which, at, reframe) => {
          const parts = encodeStream(stream);
          const i = which % parts.length;
          if (reframe) {
            const { first, body } = unframe(parts[i]);
            parts[i] = frame(first, body.subarray(0, at % (body.length + 1)));
          } else {
            parts[i] = parts[i].subarray(0, at % (parts[i].length + 1));
          }
          fuzzOnce(version, side, [Buffer.concat(parts)]);
        },
      ), { numRuns: NUM_RUNS });
    });

    test(`fuzz ${name}: any prefix of a valid stream gives its complete packets and waits, without error`, () => {
      fc.assert(fc.property(streamArb(version, side, 4), fc.nat(), (stream, at) => {
        const parts = encodeStream(stream);
        const whole = Buffer.concat(parts);
        const cut = at % (whole.length + 1);
        const d = newDecoder(version, side);
        const { packets, error } = run(d, [whole.subarray(0, cut)]);
        assert.equal(error, undefined);
        let complete = 0;
        for (let end = 0, i = 0; i < parts.length; i++) if ((end += parts[i].length) <= cut) complete = i + 1;
        assert.equal(packets.length, complete);
        assert.deepStrictEqual(canon(packets, true), canon(stream.packets.slice(0, complete), true));
        assert.equal(d.bufferedBytes, cut - parts.slice(0, complete).reduce((n, p) => n + p.length, 0));
      }), { numRuns: NUM_RUNS });
    });
  }

  test(`fuzz v${version}: arbitrary bytes after a valid CONNECT`, () => {
    fc.assert(fc.property(connectArb(version), fc.uint8Array({ maxLength: 300 }), cutPoints, (connect, bytes, points) => {
      const { packets } = fuzzOnce(version, 'server', chunked(Buffer.from(bytes), points), encode(connect, version));
      assert.equal(packets[0]?.type, 1);
    }), { numRuns: NUM_RUNS });
  });

  test(`fuzz v${version}: arbitrary bytes to a client-side decoder`, () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), cutPoints, (bytes, points) => {
      fuzzOnce(version, 'client', chunked(Buffer.from(bytes), points));
    }), { numRuns: NUM_RUNS });
  });

  // Random bodies behind plausible fixed headers get past the framing checks more often than
  // random bytes do.
  const firstByte = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(0x20, 0x30, 0x31, 0x32, 0x33, 0x34, 0x3a, 0x3b, 0x3d, 0x40, 0x50, 0x62, 0x70, 0x82, 0x90, 0xa2, 0xb0, 0xc0, 0xd0, 0xe0, 0xf0) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
  );
  const framedRandom = fc.array(fc.tuple(firstByte, fc.uint8Array({ maxLength: 40 })), { minLength: 1, maxLength: 5 })
    .map((ps) => Buffer.concat(ps.map(([first, body]) => frame(first, Buffer.from(body)))));

  test(`fuzz v${version}: well-framed random packets after a valid CONNECT`, () => {
    fc.assert(fc.property(connectArb(version), framedRandom, (connect, bytes) => {
      fuzzOnce(version, 'server', [bytes], encode(connect, version));
    }), { numRuns: NUM_RUNS });
  });

  test(`fuzz v${version}: well-framed random packets to a client-side decoder`, () => {
    fc.assert(fc.property(framedRandom, (bytes) => {
      fuzzOnce(version, 'client', [bytes]);
    }), { numRuns: NUM_RUNS });
  });
}

test('fuzz: arbitrary bytes to a fresh server-side decoder (CONNECT expected)', () => {
  const connectish = fc.tuple(fc.uint8Array({ maxLength: 60 }), fc.constantFrom('MQTT', 'MQIsdp', 'MQTX'), fc.integer({ min: 0, max: 255 }))
    .map(([rest, name, level]) => frame(0x10, Buffer.concat([Buffer.from([0, name.length]), Buffer.from(name), Buffer.from([level]), Buffer.from(rest)])));
  fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u)), connectish), cutPoints, (bytes, points) => {
    const d = new Decoder();
    const outcome = run(d, chunked(bytes, points));
    checkPackets(outcome.packets, 'server', 4);
  }), { numRuns: NUM_RUNS });
});
