// Limits end to end: what a client may send (Receive Maximum, packet sizes, subscriptions,
// topic levels), what the broker sends (the client's Maximum Packet Size and Receive Maximum,
// the 3.x window, queue bounds), and a slow reader that must not cost the broker unbounded
// memory or its responsiveness.

import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Connection } from '../../src/broker/connection.js';
import { DEFAULT_OPTIONS } from '../../src/broker/options.js';
import type { BrokerOptions } from '../../src/index.js';
import { encode, PacketType, type ConnectPacket, type ProtocolVersion } from '../../src/protocol/index.js';
import { connectClient, RawClient, startBroker, within, type TestBroker, type TestClient, uid } from './harness.js';

/** Every test is bounded, even where a broken broker would leave a client library waiting. */
const BOUND = { timeout: 15_000 };


/** Opens a raw connection and returns it with the CONNACK, whatever its code. */
async function rawConnect(port: number, version: ProtocolVersion, extra: Partial<ConnectPacket> = {}) {
  const c = await RawClient.open(port, version);
  c.send({ type: PacketType.CONNECT, protocolVersion: version, clean: true, keepAlive: 0, clientId: uid('raw'), ...extra });
  return { c, connack: await c.expect(PacketType.CONNACK) };
}

async function ping(c: RawClient): Promise<void> {
  c.send({ type: PacketType.PINGREQ });
  await c.expect(PacketType.PINGRESP);
}

/** What the client receives before a marker it publishes to itself (see retained.test.ts). */
async function drainUntilMarker(c: TestClient): Promise<string[]> {
  const topic = uid('marker/');
  await within(c.client.subscribeAsync(topic, { qos: 0 }), 'the marker SUBACK');
  await within(c.client.publishAsync(topic, 'marker', { qos: 0 }), 'the marker publish');
  const out: string[] = [];
  for (;;) {
    const m = await c.nextMessage();
    if (m.topic === topic) return out;
    out.push(m.payload.length > 20 ? `${m.topic}:${m.payload.length} bytes` : `${m.topic}:${m.payload}`);
  }
}

describe('inbound limits', () => {
  let b: TestBroker;
  before(async () => {
    b = await startBroker({
      receiveMaximum: 2, maxPacketSize: 16 * 1024, maxConnectPacketSize: 4096, maxSubscriptionsPerSession: 3, maxTopicLevels: 4,
    });
  });
  after(async () => { await b.close(); });

  test('v5 Receive Maximum: advertised in CONNACK; a third unreleased QoS 2 PUBLISH → DISCONNECT 0x93 [MQTT-3.3.4-7]', BOUND, async () => {
    const { c, connack } = await rawConnect(b.port, 5);
    assert.equal(connack.properties?.receiveMaximum, 2);
    c.publish('lim/rm', 'a', 2, { packetId: 1 });
    c.publish('lim/rm', 'b', 2, { packetId: 2 });
    assert.equal((await c.expect(PacketType.PUBREC)).packetId, 1);
    assert.equal((await c.expect(PacketType.PUBREC)).packetId, 2);
    c.publish('lim/rm', 'c', 2, { packetId: 3 });
    assert.equal((await c.expect(PacketType.DISCONNECT)).reasonCode, 0x93);
    await c.expectClose();
  });

  test('v5 Receive Maximum: a PUBREL frees the slot; QoS 1 (acknowledged at once) never fills it', BOUND, async () => {
    const { c } = await rawConnect(b.port, 5);
    for (let i = 1; i <= 10; i++) c.publish('lim/rm1', `q1-${i}`, 1, { packetId: i });
    for (let i = 1; i <= 10; i++) assert.equal((await c.expect(PacketType.PUBACK)).packetId, i);
    c.publish('lim/rm1', 'a', 2, { packetId: 20 });
    c.publish('lim/rm1', 'b', 2, { packetId: 21 });
    await c.expect(PacketType.PUBREC);
    await c.expect(PacketType.PUBREC);
    c.send({ type: PacketType.PUBREL, packetId: 20, reasonCode: 0 });
    assert.equal((await c.expect(PacketType.PUBCOMP)).packetId, 20);
    c.publish('lim/rm1', 'c', 2, { packetId: 22 });
    assert.equal((await c.expect(PacketType.PUBREC)).packetId, 22);
    await ping(c);
    await c.end();
  });

  test('Maximum Packet Size: advertised in the v5 CONNACK; exactly the limit is accepted, one byte more is not', BOUND, async () => {
    const { c, connack } = await rawConnect(b.port, 5);
    assert.equal(connack.properties?.maximumPacketSize, 16 * 1024);
    const at = encode({ type: PacketType.PUBLISH, topic: 'lim/size', payload: Buffer.alloc(16 * 1024 - 16), qos: 1, retain: false, dup: false, packetId: 1 }, 5);
    assert.equal(at.length, 16 * 1024);
    c.send(at);
    assert.equal((await c.expect(PacketType.PUBACK)).packetId, 1);
    const over = encode({ type: PacketType.PUBLISH, topic: 'lim/size', payload: Buffer.alloc(16 * 1024 - 15), qos: 1, retain: false, dup: false, packetId: 2 }, 5);
    assert.equal(over.length, 16 * 1024 + 1);
    c.send(over);
    assert.equal((await c.expect(PacketType.DISCONNECT)).reasonCode, 0x95);
    await c.expectClose();
  });

  for (const version of [5, 4] as const) {
    test(`v${version}: a packet above maxPacketSize is refused from its fixed header alone → ${version === 5 ? 'DISCONNECT 0x95' : 'close'}`, BOUND, async () => {
      const { c } = await rawConnect(b.port, version);
      // PUBLISH declaring a 10 MiB body; the body is never sent.
      c.send(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x05]));
      if (version === 5) assert.equal((await c.expect(PacketType.DISCONNECT)).reasonCode, 0x95);
      await c.expectClose();
    });
  }

  test('v5: a CONNECT above maxConnectPacketSize → CONNACK 0x95, then close; 3.1.1: close', BOUND, async () => {
    const big = { username: 'u', password: Buffer.alloc(5000, 1) };
    const v5 = await RawClient.open(b.port, 5);
    v5.send({ type: PacketType.CONNECT, protocolVersion: 5, clean: true, keepAlive: 0, clientId: uid('bigc'), ...big });
    const connack = await v5.expect(PacketType.CONNACK);
    assert.equal(connack.reasonCode, 0x95);
    await v5.expectClose();
    const v4 = await RawClient.open(b.port, 4);
    v4.send({ type: PacketType.CONNECT, protocolVersion: 4, clean: true, keepAlive: 0, clientId: uid('bigc'), ...big });
    await v4.expectClose();
    // A CONNECT below the limit is fine.
    const { c, connack: ok } = await rawConnect(b.port, 5, { username: 'u', password: Buffer.alloc(3000, 1) });
    assert.equal(ok.reasonCode, 0);
    await c.end();
  });

  for (const version of [5, 4] as const) {
    test(`v${version}: maxSubscriptionsPerSession → SUBACK ${version === 5 ? '0x97' : '0x80'} for the one too many`, BOUND, async () => {
      const { c } = await rawConnect(b.port, version);
      const sub = (packetId: number, filters: string[]) => c.send({
        type: PacketType.SUBSCRIBE, packetId,
        subscriptions: filters.map((filter) => ({ filter, qos: 1 as const, noLocal: false, retainAsPublished: false, retainHandling: 0 as const })),
      });
      sub(1, ['q/a', 'q/b', 'q/c', 'q/d']);
      assert.deepEqual((await c.expect(PacketType.SUBACK)).reasonCodes, [1, 1, 1, version === 5 ? 0x97 : 0x80]);
      // Re-subscribing an existing filter is a replacement, not a new subscription.
      sub(2, ['q/a']);
      assert.deepEqual((await c.expect(PacketType.SUBACK)).reasonCodes, [1]);
      // An unsubscribe makes room.
      c.send({ type: PacketType.UNSUBSCRIBE, packetId: 3, filters: ['q/b'] });
      await c.expect(PacketType.UNSUBACK);
      sub(4, ['q/d', 'q/e']);
      assert.deepEqual((await c.expect(PacketType.SUBACK)).reasonCodes, [1, version === 5 ? 0x97 : 0x80]);
      await c.end();
    });

    test(`v${version}: maxTopicLevels on SUBSCRIBE (${version === 5 ? '0x8F' : '0x80'}) and on PUBLISH (${version === 5 ? 'DISCONNECT 0x90' : 'close'})`, BOUND, async () => {
      const { c } = await rawConnect(b.port, version);
      c.send({
        type: PacketType.SUBSCRIBE, packetId: 1,
        subscriptions: ['l/1/2/3', 'l/1/2/3/4', 'l/+/+/#', '+/+/+/+/#'].map((filter) => ({ filter, qos: 0 as const, noLocal: false, retainAsPublished: false, retainHandling: 0 as const })),
      });
      const fail = version === 5 ? 0x8f : 0x80;
      assert.deepEqual((await c.expect(PacketType.SUBACK)).reasonCodes, [0, fail, 0, fail]);
      c.publish('l/1/2/3', 'four levels', 1, { packetId: 1 });
      assert.equal((await c.expect(PacketType.PUBLISH)).topic, 'l/1/2/3');
      await c.expect(PacketType.PUBACK);
      c.publish('l/1/2/3/4', 'five levels', 0);
      if (version === 5) assert.equal((await c.expect(PacketType.DISCONNECT)).reasonCode, 0x90);
      await c.expectClose();
    });
  }
});

describe('outbound limits', () => {
  let b: TestBroker;
  before(async () => { b = await startBroker(); });
  after(async () => { await b.close(); });

  test('a message larger than a v5 client\'s Maximum Packet Size is not sent to it; others get it [MQTT-3.1.2-25]', BOUND, async () => {
    const topic = uid('big/');
    const clientId = uid('small-max');
    const small = await connectClient(b.url, 5, { clientId, properties: { maximumPacketSize: 512 } });
    await small.client.subscribeAsync(topic, { qos: 1 });
    const plain = await connectClient(b.url, 5);
    await plain.client.subscribeAsync(topic, { qos: 1 });
    const old = await connectClient(b.url, 4);
    await old.client.subscribeAsync(topic, { qos: 1 });
    const pub = await connectClient(b.url, 5);
    await pub.client.publishAsync(topic, Buffer.alloc(2000, 0x61), { qos: 1 });
    await pub.client.publishAsync(topic, Buffer.alloc(600, 0x62), { qos: 0 });
    await pub.client.publishAsync(topic, 'fits', { qos: 1 });
    assert.deepEqual(await drainUntilMarker(small), [`${topic}:fits`]);
    const full = [`${topic}:2000 bytes`, `${topic}:600 bytes`, `${topic}:fits`];
    assert.deepEqual(await drainUntilMarker(plain), full);
    assert.deepEqual(await drainUntilMarker(old), full);
    const session = b.broker.registry.get(clientId)!;
    assert.equal(session.dropped.tooLarge, 2);
    assert.equal(session.inflight.size, 0, 'a dropped QoS 1 message does not hold a slot of the window');
    await Promise.all([small, plain, old, pub].map((c) => c.end()));
  });

  test('v5 Receive Maximum 2 of a subscriber that does not acknowledge: 2 in flight, then one per PUBACK, in order', BOUND, async () => {
    const topic = uid('flow/');
    const sub = await RawClient.connect(b.port, { protocolVersion: 5, properties: { receiveMaximum: 2 } });
    await sub.subscribe(topic, 1);
    const pub = await RawClient.connect(b.port, { protocolVersion: 4 });
    for (let i = 0; i < 6; i++) pub.publish(topic, `m${i}`, 1, { packetId: i + 1 });
    for (let i = 0; i < 6; i++) await pub.expect(PacketType.PUBACK); // all six are in the broker
    const inflight = [await sub.expect(PacketType.PUBLISH), await sub.expect(PacketType.PUBLISH)];
    await ping(sub); // and no third PUBLISH before the PINGRESP
    const got = inflight.map((p) => p.payload.toString());
    for (let i = 0; i < 4; i++) {
      const done = inflight.shift()!;
      sub.send({ type: PacketType.PUBACK, packetId: done.packetId, reasonCode: 0 });
      const next = await sub.expect(PacketType.PUBLISH);
      inflight.push(next);
      got.push(next.payload.toString());
      await ping(sub); // exactly one more per PUBACK
    }
    assert.deepEqual(got, ['m0', 'm1', 'm2', 'm3', 'm4', 'm5']);
    await Promise.all([sub.end(), pub.end()]);
  });

  test('QoS 2 holds its slot until PUBCOMP (Receive Maximum 1)', BOUND, async () => {
    const topic = uid('flow2/');
    const sub = await RawClient.connect(b.port, { protocolVersion: 5, properties: { receiveMaximum: 1 } });
    await sub.subscribe(topic, 2);
    b.broker.publish({ topic, payload: 'a', qos: 2 });
    b.broker.publish({ topic, payload: 'b', qos: 2 });
    const first = await sub.expect(PacketType.PUBLISH);
    sub.send({ type: PacketType.PUBREC, packetId: first.packetId, reasonCode: 0 });
    assert.equal((await sub.expect(PacketType.PUBREL)).packetId, first.packetId);
    await ping(sub); // PUBREC alone does not free the slot
    sub.send({ type: PacketType.PUBCOMP, packetId: first.packetId, reasonCode: 0 });
    assert.equal((await sub.expect(PacketType.PUBLISH)).payload.toString(), 'b');
    await sub.end();
  });
});

describe('the 3.x window (maxInflight) and queue bounds (maxQueuedMessages)', () => {
  let b: TestBroker;
  before(async () => { b = await startBroker({ maxInflight: 2, maxQueuedMessages: 3 }); });
  after(async () => { await b.close(); });

  for (const version of [4, 3] as const) {
    test(`v${version}: maxInflight 2: two unacknowledged QoS 1 messages, then one per PUBACK`, BOUND, async () => {
      const topic = uid('win/');
      const sub = await RawClient.connect(b.port, { protocolVersion: version, clientId: uid('w') });
      await sub.subscribe(topic, 1);
      for (let i = 0; i < 4; i++) b.broker.publish({ topic, payload: `m${i}`, qos: 1 });
      const a = await sub.expect(PacketType.PUBLISH);
      const c = await sub.expect(PacketType.PUBLISH);
      await ping(sub);
      sub.send({ type: PacketType.PUBACK, packetId: a.packetId, reasonCode: 0 });
      const d = await sub.expect(PacketType.PUBLISH);
      await ping(sub);
      sub.send({ type: PacketType.PUBACK, packetId: c.packetId, reasonCode: 0 });
      const e = await sub.expect(PacketType.PUBLISH);
      assert.deepEqual([a, c, d, e].map((p) => p.payload.toString()), ['m0', 'm1', 'm2', 'm3']);
      await sub.end();
    });
  }

  test('v5: the window is the smaller of the client\'s Receive Maximum and maxInflight', BOUND, async () => {
    const topic = uid('win5/');
    const sub = await RawClient.connect(b.port, { protocolVersion: 5, properties: { receiveMaximum: 50 } });
    await sub.subscribe(topic, 1);
    for (let i = 0; i < 3; i++) b.broker.publish({ topic, payload: `m${i}`, qos: 1 });
    await sub.expect(PacketType.PUBLISH);
    await sub.expect(PacketType.PUBLISH);
    await ping(sub);
    await sub.end();
  });

  test('an online subscriber that does not acknowledge: 2 in flight + 3 queued, the rest dropped; nothing lost of those kept', BOUND, async () => {
    const topic = uid('q/');
    const clientId = uid('q');
    const sub = await RawClient.connect(b.port, { protocolVersion: 4, clientId });
    await sub.subscribe(topic, 1);
    // The broker's own publications: no publisher connection that flow control could slow down.
    for (let i = 0; i < 10; i++) b.broker.publish({ topic, payload: `m${i}`, qos: 1 });
    const session = b.broker.registry.get(clientId)!;
    assert.equal(session.inflight.size, 2);
    assert.equal(session.queue.length - session.queueHead, 3);
    assert.equal(session.dropped.queueFull, 5);
    const got: string[] = [];
    for (let i = 0; i < 5; i++) {
      const p = await sub.expect(PacketType.PUBLISH);
      got.push(p.payload.toString());
      sub.send({ type: PacketType.PUBACK, packetId: p.packetId, reasonCode: 0 });
    }
    await ping(sub);
    assert.deepEqual(got, ['m0', 'm1', 'm2', 'm3', 'm4']);
    assert.equal(session.inflight.size, 0);
    await sub.end();
  });
});

describe('a slow reader', () => {
  const BACKLOG = 64 * 1024;
  const PAYLOAD = 16 * 1024;
  let b: TestBroker;
  before(async () => {
    const options: Record<string, unknown> = { maxSocketBacklog: BACKLOG };
    // If the broker first slows publishers down for a congested subscriber, keep that short.
    if ('slowConsumerTimeout' in DEFAULT_OPTIONS) options.slowConsumerTimeout = 200;
    b = await startBroker(options as BrokerOptions);
  });
  after(async () => { await b.close(); });

  test('QoS 0 flood to a subscriber that never reads: bystander stays responsive, memory stays bounded, QoS 0 dropped', BOUND, async () => {
    const FLOOD_MS = 3000; // at most; the flood usually ends at MAX_MESSAGES well before
    const MAX_MESSAGES = 20_000; // 320 MiB at most
    const slow = await RawClient.connect(b.port, { protocolVersion: 4, clientId: 'slow-reader' });
    await slow.subscribe('flood/#', 0);
    slow.socket.pause(); // from now on it reads nothing
    const slowConn = b.broker.registry.get('slow-reader')!.outlet as unknown as Connection;

    const bystander = await connectClient(b.url, 4);
    await bystander.client.subscribeAsync('bystander/limits', { qos: 1 });

    const publisher: Socket = await within(new Promise((resolve, reject) => {
      const s = netConnect({ port: b.port, host: '127.0.0.1' }, () => resolve(s));
      s.once('error', reject);
    }), 'the publisher to connect');
    publisher.on('error', () => undefined);
    publisher.on('data', () => undefined);
    publisher.write(encode({ type: PacketType.CONNECT, protocolVersion: 4, clean: true, keepAlive: 0, clientId: 'flooder' }, 4));
    const packet = encode({ type: PacketType.PUBLISH, topic: 'flood/t', payload: Buffer.alloc(PAYLOAD, 0x5a), qos: 0, retain: false, dup: false, packetId: 0 }, 4);

    const rssBefore = process.memoryUsage().rss;
    let maxBacklog = 0;
    let maxRss = rssBefore;
    const sample = (): void => {
      maxBacklog = Math.max(maxBacklog, slowConn.socket.writableLength);
      maxRss = Math.max(maxRss, process.memoryUsage().rss);
    };
    const sampler = setInterval(sample, 5);

    let sent = 0;
    let stop = false;
    let floodMs = 0;
    const start = performance.now();
    const flood = (async () => {
      while (!stop && sent < MAX_MESSAGES && performance.now() - start < FLOOD_MS) {
        sent++;
        publisher.write(packet);
        // Respect the publisher's own backpressure (the broker may stop reading it), bounded in time.
        while (publisher.writableLength > 256 * 1024 && !stop && performance.now() - start < FLOOD_MS) {
          await new Promise<void>((resolve) => {
            const done = (): void => {
              clearTimeout(timer);
              publisher.off('drain', done);
              resolve();
            };
            const timer = setTimeout(done, 20);
            publisher.once('drain', done);
          });
        }
        if (sent % 16 === 0) await new Promise((r) => setImmediate(r));
      }
      floodMs = performance.now() - start;
    })();

    const roundTrips: number[] = [];
    let duringFlood = 0;
    let i = 0;
    while (floodMs === 0 && performance.now() - start < FLOOD_MS) {
      const t0 = performance.now();
      const payload = `rt${i++}`;
      await bystander.client.publishAsync('bystander/limits', payload, { qos: 1 });
      while ((await bystander.nextMessage(2000)).payload !== payload);
      roundTrips.push(performance.now() - t0);
      if (floodMs === 0) duringFlood++;
      sample();
      await new Promise((r) => setTimeout(r, 20));
    }
    stop = true;
    await within(flood, 'the flood to stop', 2000);
    clearInterval(sampler);
    sample();

    const session = b.broker.registry.get('slow-reader')!;
    const mb = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`;
    const info = `sent ${sent} x ${PAYLOAD} B (${mb(sent * PAYLOAD)}) in ${floodMs.toFixed(0)} ms, dropped ${session.dropped.slowConsumer}, ` +
      `max backlog ${mb(maxBacklog)}, rss +${mb(maxRss - rssBefore)}, round trips ${roundTrips.map((t) => t.toFixed(0)).join(',')} ms`;
    assert.ok(duringFlood >= 3, `too few bystander round trips while the flood ran (${duringFlood}): ${info}`);
    assert.ok(Math.max(...roundTrips) < 1000, `bystander round trip too slow: ${info}`);
    // Nothing held for the slow reader beyond its budget and a turn's batch that crossed it.
    assert.ok(maxBacklog <= 2 * (BACKLOG + packet.length), `slow socket backlog unbounded: ${info}`);
    assert.ok(session.queue.length - session.queueHead === 0, 'QoS 0 is not queued for a connected slow reader');
    assert.ok(session.dropped.slowConsumer > 0, `QoS 0 to the slow reader was not dropped: ${info}`);
    // The flood far exceeds what the slow reader's kernel buffers hold: if it were kept, rss would show it.
    assert.ok(sent * PAYLOAD > 192 * 1048576, `the flood was too small to tell: ${info}`);
    assert.ok(maxRss - rssBefore < 96 * 1048576, `rss grew too much: ${info}`);

    publisher.destroy();
    slow.destroy();
    await bystander.end();
  });
});
