// Hostile and malformed input over real sockets: each bad packet after a valid CONNECT ends
// that connection the right way (v5: DISCONNECT with the reason code, then close; 3.1.1: a
// plain close [MQTT-4.8.0-1]), acknowledgements for unknown packet ids are harmless, and a
// flood of random garbage from many sockets at once does not disturb a bystander.

import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { PacketType, type ProtocolVersion } from '../../src/protocol/index.js';
import { raw } from '../protocol/helpers.js';
import { connectClient, RawClient, startBroker, within, type TestBroker, type TestClient } from './harness.js';

/** Every test is bounded, even where a broken broker would leave a client library waiting. */
const BOUND = { timeout: 15_000 };

const MAX_PACKET = 64 * 1024;
let b: TestBroker;
let bystander: TestClient;
let rounds = 0;

before(async () => {
  b = await startBroker({ maxPacketSize: MAX_PACKET });
  bystander = await connectClient(b.url, 4, { clientId: 'bystander' });
  await bystander.client.subscribeAsync('bystander/echo', { qos: 1 });
});
after(async () => {
  await bystander.end();
  await b.close();
});

/** The bystander still gets its own message through the broker. */
async function bystanderRoundTrip(ms = 2000): Promise<number> {
  const payload = `rt${++rounds}`;
  const start = performance.now();
  await within(bystander.client.publishAsync('bystander/echo', payload, { qos: 1 }), 'the bystander PUBACK', ms);
  for (;;) {
    const m = await bystander.nextMessage(ms);
    if (m.payload === payload) return performance.now() - start;
  }
}

/** Polls a condition the broker offers no event for, bounded in time. */
async function until(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** v5 has a property length after the variable header of PUBLISH, SUBSCRIBE, UNSUBSCRIBE. */
const p5 = (v: ProtocolVersion): number[] => (v === 5 ? [0] : []);

/** [name, bytes sent after CONNECT, v5 reason code of the DISCONNECT] */
const cases: [string, (v: ProtocolVersion) => Buffer, number][] = [
  ['SUBSCRIBE with fixed-header flags 0000 [MQTT-3.8.1-1]', (v) => raw(0x80, [0, 1], p5(v), 'a/b', 0), 0x81],
  ['PINGREQ with fixed-header flags 0001 [MQTT-2.2.2-2]', () => Buffer.from([0xc1, 0x00]), 0x81],
  ['PUBREL with fixed-header flags 0000 [MQTT-3.6.1-1]', () => Buffer.from([0x60, 0x02, 0x00, 0x01]), 0x81],
  ['Remaining Length of 5 bytes [MQTT-1.5.5-1]', () => Buffer.from([0x30, 0x80, 0x80, 0x80, 0x80, 0x01]), 0x81],
  ['PUBLISH topic that is not valid UTF-8 [MQTT-1.5.4-1]', (v) => raw(0x30, [0, 2, 0xc3, 0x28], p5(v), 'x'), 0x81],
  ['PUBLISH topic with U+0000 [MQTT-1.5.4-2]', (v) => raw(0x30, 'a\u0000b', p5(v), 'x'), 0x81],
  ['PUBLISH topic with a wildcard [MQTT-3.3.2-2]', (v) => raw(0x30, 'a/+/c', p5(v), 'x'), 0x90],
  ['PUBLISH with QoS 3 [MQTT-3.3.1-4]', (v) => raw(0x36, 'a/b', [0, 1], p5(v), 'x'), 0x81],
  ['PUBLISH QoS 0 with DUP [MQTT-3.3.1-2]', (v) => raw(0x38, 'a/b', p5(v), 'x'), 0x81],
  ['PUBLISH QoS 1 with packet id 0 [MQTT-2.2.1-3]', (v) => raw(0x32, 'a/b', [0, 0], p5(v), 'x'), 0x82],
  ['SUBSCRIBE with no topic filter [MQTT-3.8.3-3]', (v) => raw(0x82, [0, 1], p5(v)), 0x82],
  ['SUBSCRIBE with subscription QoS 3', (v) => raw(0x82, [0, 1], p5(v), 'a/b', 3), 0x81],
  ['SUBSCRIBE with an invalid filter (a/#/b)', (v) => raw(0x82, [0, 1], p5(v), 'a/#/b', 0), 0x8f],
  ['UNSUBSCRIBE with no topic filter [MQTT-3.10.3-2]', (v) => raw(0xa2, [0, 1], p5(v)), 0x82],
  ['packet type 0 (reserved)', () => Buffer.from([0x00, 0x00]), 0x81],
  ['CONNACK sent by a client', () => Buffer.from([0x20, 0x02, 0x00, 0x00]), 0x82],
  ['SUBACK sent by a client', () => Buffer.from([0x90, 0x03, 0x00, 0x01, 0x00]), 0x82],
  ['PINGRESP sent by a client', () => Buffer.from([0xd0, 0x00]), 0x82],
  ['a second CONNECT [MQTT-3.1.0-2]', (v) => raw(0x10, v === 3 ? 'MQIsdp' : 'MQTT', v, 0x02, [0, 0], p5(v), 'again'), 0x82],
  ['a packet above the maximum packet size (header only)', () => Buffer.from([0x30, 0x80, 0x80, 0x08]), 0x95], // 128 KiB declared
  ['DISCONNECT with a body on 3.1.1 / bad reason on v5', (v) => (v === 5 ? Buffer.from([0xe0, 0x01, 0x03]) : Buffer.from([0xe0, 0x01, 0x00])), 0x82],
];

describe('malformed and hostile packets after CONNECT', () => {
  for (const [name, bytes, code] of cases) {
    for (const version of [5, 4] as const) {
      test(`v${version}: ${name} → ${version === 5 ? `DISCONNECT 0x${code.toString(16)}` : 'close'}; bystander unaffected`, BOUND, async () => {
        const c = await RawClient.connect(b.port, { protocolVersion: version });
        c.send(bytes(version));
        if (version === 5) {
          const d = await c.expect(PacketType.DISCONNECT);
          assert.equal(d.reasonCode, code);
        }
        await c.expectClose();
        await bystanderRoundTrip();
      });
    }
  }

  test('v5 and 3.1.1: the bad packet arriving byte by byte is refused the same way', BOUND, async () => {
    for (const version of [5, 4] as const) {
      const c = await RawClient.connect(b.port, { protocolVersion: version });
      for (const byte of raw(0x30, 'a/#', p5(version), 'x')) c.send(Buffer.from([byte]));
      if (version === 5) assert.equal((await c.expect(PacketType.DISCONNECT)).reasonCode, 0x90);
      await c.expectClose();
    }
    await bystanderRoundTrip();
  });

  test('garbage instead of CONNECT: closed without CONNACK [MQTT-3.1.0-1]', BOUND, async () => {
    for (const bytes of [Buffer.from([0x30, 0x03, 0, 1, 0x61]), Buffer.from([0xc0, 0x00]), Buffer.from('GET / HTTP/1.1\r\n\r\n')]) {
      const c = await RawClient.open(b.port, 5);
      c.send(bytes);
      await c.expectClose();
    }
    await bystanderRoundTrip();
  });
});

describe('acknowledgements for unknown packet ids', () => {
  test('v5: PUBACK and PUBCOMP ignored; PUBREC → PUBREL 0x92; PUBREL → PUBCOMP 0x92; the link stays up', BOUND, async () => {
    const c = await RawClient.connect(b.port, { protocolVersion: 5 });
    c.send({ type: PacketType.PUBACK, packetId: 777, reasonCode: 0 });
    c.send({ type: PacketType.PUBCOMP, packetId: 778, reasonCode: 0 });
    c.send({ type: PacketType.PUBREC, packetId: 779, reasonCode: 0 });
    const rel = await c.expect(PacketType.PUBREL);
    assert.deepEqual([rel.packetId, rel.reasonCode], [779, 0x92]);
    c.send({ type: PacketType.PUBREL, packetId: 780, reasonCode: 0 });
    const comp = await c.expect(PacketType.PUBCOMP);
    assert.deepEqual([comp.packetId, comp.reasonCode], [780, 0x92]);
    c.send({ type: PacketType.PINGREQ });
    await c.expect(PacketType.PINGRESP);
    assert.equal(c.isClosed, false);
    // It still works: a QoS 2 publish round trip.
    await c.subscribe('unknown-ids/v5', 2, 5);
    c.publish('unknown-ids/v5', 'still here', 2, { packetId: 781 });
    const got: number[] = [];
    let delivered: { packetId: number; payload: Buffer } | undefined;
    while (got.length < 2) {
      const p = await c.next();
      got.push(p.type);
      if (p.type === PacketType.PUBLISH) delivered = p;
    }
    assert.deepEqual(got.sort(), [PacketType.PUBLISH, PacketType.PUBREC]);
    assert.equal(delivered?.payload.toString(), 'still here');
    await c.end();
    await bystanderRoundTrip();
  });

  test('3.1.1: PUBACK and PUBCOMP ignored; PUBREC → PUBREL; PUBREL → PUBCOMP; the link stays up', BOUND, async () => {
    const c = await RawClient.connect(b.port, { protocolVersion: 4 });
    c.send({ type: PacketType.PUBACK, packetId: 1, reasonCode: 0 });
    c.send({ type: PacketType.PUBCOMP, packetId: 2, reasonCode: 0 });
    c.send({ type: PacketType.PUBREC, packetId: 3, reasonCode: 0 });
    assert.equal((await c.expect(PacketType.PUBREL)).packetId, 3);
    c.send({ type: PacketType.PUBREL, packetId: 4, reasonCode: 0 });
    assert.equal((await c.expect(PacketType.PUBCOMP)).packetId, 4);
    c.send({ type: PacketType.PINGREQ });
    await c.expect(PacketType.PINGRESP);
    assert.equal(c.isClosed, false);
    await c.end();
  });

  test('an acknowledgement of the wrong kind for an in-flight id is ignored; the right one completes it', BOUND, async () => {
    const sub = await RawClient.connect(b.port, { protocolVersion: 5, clientId: 'wrong-kind' });
    await sub.subscribe('unknown-ids/kind', 1);
    b.broker.publish({ topic: 'unknown-ids/kind', payload: 'q1', qos: 1 });
    const p = await sub.expect(PacketType.PUBLISH);
    const session = b.broker.registry.get('wrong-kind')!;
    sub.send({ type: PacketType.PUBCOMP, packetId: p.packetId, reasonCode: 0 }); // wrong kind: ignored
    sub.send({ type: PacketType.PINGREQ });
    await sub.expect(PacketType.PINGRESP);
    assert.equal(session.inflight.size, 1, 'still awaiting its PUBACK');
    sub.send({ type: PacketType.PUBACK, packetId: p.packetId, reasonCode: 0 });
    sub.send({ type: PacketType.PUBACK, packetId: p.packetId, reasonCode: 0 }); // twice: ignored
    sub.send({ type: PacketType.PINGREQ });
    await sub.expect(PacketType.PINGRESP);
    assert.equal(session.inflight.size, 0);
    await sub.end();
  });
});

/** A small deterministic PRNG (mulberry32), so a failing flood can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('garbage flood', () => {
  test('20 sockets of random bytes at once do not affect a bystander', BOUND, async () => {
    const SOCKETS = 20;
    const CHUNKS = 40;
    const sockets: Socket[] = [];
    const closedByBroker: boolean[] = [];
    const opened = Array.from({ length: SOCKETS }, (_, i) => within(new Promise<Socket>((resolve, reject) => {
      const s = netConnect({ port: b.port, host: '127.0.0.1' }, () => resolve(s));
      s.once('error', reject);
    }).then((s) => {
      s.on('error', () => undefined);
      s.on('data', () => undefined);
      s.once('close', () => { closedByBroker[i] = true; });
      sockets[i] = s;
      return s;
    }), 'a flood socket'));
    const all = await Promise.all(opened);
    const writes = all.map(async (s, i) => {
      const rand = prng(0xc0ffee + i);
      // Half of them first make a valid CONNECT, so the garbage reaches the connected state.
      if (i % 2 === 0) s.write(raw(0x10, 'MQTT', i % 4 === 0 ? 5 : 4, 0x02, [0, 0], i % 4 === 0 ? [0] : [], `flood-${i}`));
      for (let k = 0; k < CHUNKS && !s.destroyed; k++) {
        const chunk = Buffer.alloc(256 + Math.floor(rand() * 3840));
        for (let j = 0; j < chunk.length; j++) chunk[j] = Math.floor(rand() * 256);
        s.write(chunk);
        if (k % 8 === 0) await new Promise((r) => setImmediate(r));
      }
    });
    // The bystander keeps working while the flood runs, and promptly.
    const during: number[] = [];
    const flood = Promise.all(writes);
    for (let i = 0; i < 5; i++) during.push(await bystanderRoundTrip());
    await within(flood, 'the flood to be written', 5000);
    during.push(await bystanderRoundTrip());
    assert.ok(Math.max(...during) < 1000, `bystander round trips during the flood: ${during.map((t) => t.toFixed(0))} ms`);
    // Random bytes break a rule soon enough: the broker closes every one of these sockets.
    const allClosed = Promise.all(sockets.map((s, i) => (closedByBroker[i] ? undefined : new Promise((r) => s.once('close', r)))));
    try {
      await within(allClosed, 'the broker to close every flood socket', 3000);
    } catch {
      assert.fail(`the broker closed only ${closedByBroker.filter(Boolean).length} of ${SOCKETS} flood sockets`);
    } finally {
      for (const s of sockets) s.destroy();
    }
    await bystanderRoundTrip();
  });

  test('after everything, the broker holds only the bystander connection', BOUND, async () => {
    await until(() => b.broker.connectionCount === 1, `connectionCount 1 (is ${b.broker.connectionCount})`);
    assert.equal(b.broker.connectionCount, 1);
    await bystanderRoundTrip();
  });
});
