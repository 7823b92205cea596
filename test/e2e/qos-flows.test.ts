// The seed's "Traffic Flows by QoS", one test per scenario, with MQTT.js for the happy paths
// and raw packets where the test must control (or withhold) each acknowledgement.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { encode, PacketType } from '../../src/protocol/index.js';
import { connectClient, RawClient, startBroker, VERSIONS, type TestBroker } from './harness.js';

let b: TestBroker;
before(async () => { b = await startBroker(); });
after(async () => { await b.close(); });

describe('QoS flows with MQTT.js', () => {
  for (const version of VERSIONS) {
    for (const qos of [0, 1, 2] as const) {
      test(`v${version} QoS ${qos}: publisher to subscriber`, async () => {
        const sub = await connectClient(b.url, version);
        await sub.client.subscribeAsync(`flows/v${version}/q${qos}`, { qos });
        const pub = await connectClient(b.url, version);
        await pub.client.publishAsync(`flows/v${version}/q${qos}`, `m${qos}`, { qos });
        const m = await sub.nextMessage();
        assert.equal(m.topic, `flows/v${version}/q${qos}`);
        assert.equal(m.payload, `m${qos}`);
        assert.equal(m.packet.qos, qos);
        assert.equal(m.packet.retain, false);
        await Promise.all([sub.end(), pub.end()]);
      });
    }
  }

  test('effective QoS is the minimum of publish and subscription QoS (multi-subscriber example)', async () => {
    const subs = await Promise.all([0, 1, 2].map(async (q) => {
      const c = await connectClient(b.url, 4);
      await c.client.subscribeAsync('multi/t', { qos: q as 0 | 1 | 2 });
      return c;
    }));
    const pub = await connectClient(b.url, 4);
    await pub.client.publishAsync('multi/t', 'x', { qos: 2 });
    const got = await Promise.all(subs.map((s) => s.nextMessage()));
    assert.deepEqual(got.map((m) => m.packet.qos), [0, 1, 2]);
    await pub.client.publishAsync('multi/t', 'y', { qos: 1 });
    const got1 = await Promise.all(subs.map((s) => s.nextMessage()));
    assert.deepEqual(got1.map((m) => m.packet.qos), [0, 1, 1]);
    await Promise.all([...subs, pub].map((c) => c.end()));
  });
});

describe('QoS flows with raw packets', () => {
  test('QoS 1 end to end: PUBACK to the publisher, PUBLISH with a broker packet id to the subscriber', async () => {
    const sub = await RawClient.connect(b.port, { clientId: 'raw-q1-sub' });
    assert.deepEqual(await sub.subscribe('sensors/#', 1), [1]);
    const pub = await RawClient.connect(b.port, { clientId: 'raw-q1-pub' });
    pub.publish('sensors/r1/temp', '21', 1, { packetId: 10 });
    assert.equal((await pub.expect(PacketType.PUBACK)).packetId, 10);
    const p = await sub.expect(PacketType.PUBLISH);
    assert.equal(p.topic, 'sensors/r1/temp');
    assert.equal(p.qos, 1);
    assert.equal(p.dup, false);
    assert.ok(p.packetId > 0);
    sub.send({ type: PacketType.PUBACK, packetId: p.packetId, reasonCode: 0 });
    await Promise.all([sub.end(), pub.end()]);
  });

  test('QoS 2 end to end: PUBREC, PUBREL, PUBCOMP on both legs', async () => {
    const sub = await RawClient.connect(b.port, { clientId: 'raw-q2-sub' });
    await sub.subscribe('q2/#', 2);
    const pub = await RawClient.connect(b.port, { clientId: 'raw-q2-pub' });
    pub.publish('q2/a', 'once', 2, { packetId: 20 });
    assert.equal((await pub.expect(PacketType.PUBREC)).packetId, 20);
    const p = await sub.expect(PacketType.PUBLISH);
    assert.equal(p.qos, 2);
    sub.send({ type: PacketType.PUBREC, packetId: p.packetId, reasonCode: 0 });
    assert.equal((await sub.expect(PacketType.PUBREL)).packetId, p.packetId);
    sub.send({ type: PacketType.PUBCOMP, packetId: p.packetId, reasonCode: 0 });
    pub.send({ type: PacketType.PUBREL, packetId: 20, reasonCode: 0 });
    assert.equal((await pub.expect(PacketType.PUBCOMP)).packetId, 20);
    await Promise.all([sub.end(), pub.end()]);
  });

  test('QoS 2 with a lost PUBREC: the DUP re-send is acknowledged and not delivered twice', async () => {
    const sub = await RawClient.connect(b.port, { clientId: 'raw-dup-sub' });
    await sub.subscribe('dup/#', 2);
    const pub = await RawClient.connect(b.port, { clientId: 'raw-dup-pub' });
    pub.publish('dup/a', 'first', 2, { packetId: 7 });
    await pub.expect(PacketType.PUBREC);
    // The publisher did not see the PUBREC: it re-sends with DUP.
    pub.publish('dup/a', 'first', 2, { packetId: 7, dup: true });
    assert.equal((await pub.expect(PacketType.PUBREC)).packetId, 7);
    pub.send({ type: PacketType.PUBREL, packetId: 7, reasonCode: 0 });
    await pub.expect(PacketType.PUBCOMP);
    // After PUBCOMP the id is free: the same id is a new message.
    pub.publish('dup/a', 'second', 2, { packetId: 7 });
    await pub.expect(PacketType.PUBREC);
    const first = await sub.expect(PacketType.PUBLISH);
    const second = await sub.expect(PacketType.PUBLISH);
    assert.deepEqual([first.payload.toString(), second.payload.toString()], ['first', 'second']);
    assert.equal(sub.buffered.length, 0);
    await Promise.all([sub.end(), pub.end()]);
  });

  test('QoS 2 with mid-loss of PUBCOMP: the re-sent PUBREL gets PUBCOMP again', async () => {
    const pub = await RawClient.connect(b.port, { clientId: 'raw-pubcomp-loss' });
    pub.publish('loss/a', 'x', 2, { packetId: 20 });
    await pub.expect(PacketType.PUBREC);
    pub.send({ type: PacketType.PUBREL, packetId: 20, reasonCode: 0 });
    assert.equal((await pub.expect(PacketType.PUBCOMP)).packetId, 20);
    // PUBCOMP "lost": the client retries PUBREL, and the broker answers again.
    pub.send({ type: PacketType.PUBREL, packetId: 20, reasonCode: 0 });
    assert.equal((await pub.expect(PacketType.PUBCOMP)).packetId, 20);
    await pub.end();
  });

  test('QoS 2 PUBREL lost across a reconnect: the persistent session still completes it', async () => {
    const pub = await RawClient.connect(b.port, { clientId: 'raw-q2-reconnect', clean: false });
    pub.publish('rc/a', 'x', 2, { packetId: 30 });
    await pub.expect(PacketType.PUBREC);
    pub.destroy();
    await pub.closedPromise;
    const again = await RawClient.open(b.port);
    again.send({ type: PacketType.CONNECT, protocolVersion: 4, clean: false, keepAlive: 0, clientId: 'raw-q2-reconnect' });
    const connack = await again.expect(PacketType.CONNACK);
    assert.equal(connack.sessionPresent, true);
    // The re-sent PUBLISH with the same id is still a duplicate: PUBREC, no second delivery.
    again.publish('rc/a', 'x', 2, { packetId: 30, dup: true });
    await again.expect(PacketType.PUBREC);
    again.send({ type: PacketType.PUBREL, packetId: 30, reasonCode: 0 });
    assert.equal((await again.expect(PacketType.PUBCOMP)).packetId, 30);
    again.send({ type: PacketType.CONNECT, protocolVersion: 4, clean: true, keepAlive: 0, clientId: 'x' }); // a second CONNECT ends it
    await again.expectClose();
  });

  test('redelivery on reconnect: unacknowledged QoS 1 and 2 come back with DUP and the same ids, PUBREL re-sent', async () => {
    const clientId = 'raw-redeliver';
    const sub = await RawClient.connect(b.port, { clientId, clean: false });
    await sub.subscribe('re/#', 2);
    const pub = await RawClient.connect(b.port, { clientId: 'raw-redeliver-pub' });
    pub.publish('re/1', 'one', 1, { packetId: 1 });
    pub.publish('re/2', 'two', 2, { packetId: 2 });
    pub.publish('re/3', 'three', 2, { packetId: 3 });
    await pub.expect(PacketType.PUBACK);
    await pub.expect(PacketType.PUBREC);
    await pub.expect(PacketType.PUBREC);
    const p1 = await sub.expect(PacketType.PUBLISH);
    const p2 = await sub.expect(PacketType.PUBLISH);
    const p3 = await sub.expect(PacketType.PUBLISH);
    // Acknowledge only the third's PUBREC: it moves on to PUBREL; the first two stay unacknowledged.
    sub.send({ type: PacketType.PUBREC, packetId: p3.packetId, reasonCode: 0 });
    assert.equal((await sub.expect(PacketType.PUBREL)).packetId, p3.packetId);
    sub.destroy();
    await sub.closedPromise;

    const back = await RawClient.open(b.port);
    back.send({ type: PacketType.CONNECT, protocolVersion: 4, clean: false, keepAlive: 0, clientId });
    assert.equal((await back.expect(PacketType.CONNACK)).sessionPresent, true);
    const r1 = await back.expect(PacketType.PUBLISH);
    const r2 = await back.expect(PacketType.PUBLISH);
    const rel = await back.expect(PacketType.PUBREL);
    assert.deepEqual([r1.packetId, r1.dup, r1.payload.toString()], [p1.packetId, true, 'one']);
    assert.deepEqual([r2.packetId, r2.dup, r2.payload.toString()], [p2.packetId, true, 'two']);
    assert.equal(rel.packetId, p3.packetId);
    back.send({ type: PacketType.PUBACK, packetId: r1.packetId, reasonCode: 0 });
    back.send({ type: PacketType.PUBREC, packetId: r2.packetId, reasonCode: 0 });
    assert.equal((await back.expect(PacketType.PUBREL)).packetId, r2.packetId);
    back.send({ type: PacketType.PUBCOMP, packetId: r2.packetId, reasonCode: 0 });
    back.send({ type: PacketType.PUBCOMP, packetId: rel.packetId, reasonCode: 0 });
    // Nothing more is owed: a ping round trip shows the queue is empty.
    back.send({ type: PacketType.PINGREQ });
    await back.expect(PacketType.PINGRESP);
    await Promise.all([back.end(), pub.end()]);
  });

  test('offline queue: QoS 1/2 messages for a persistent session arrive in order on reconnect; QoS 0 does not', async () => {
    const clientId = 'raw-offline';
    const sub = await RawClient.connect(b.port, { clientId, clean: false });
    await sub.subscribe('off/#', 2);
    await sub.end();
    const pub = await RawClient.connect(b.port, { clientId: 'raw-offline-pub' });
    for (let i = 0; i < 5; i++) pub.publish('off/t', `m${i}`, 1, { packetId: i + 1 });
    pub.publish('off/t', 'qos0', 0);
    for (let i = 0; i < 5; i++) await pub.expect(PacketType.PUBACK);
    const back = await RawClient.open(b.port);
    back.send({ type: PacketType.CONNECT, protocolVersion: 4, clean: false, keepAlive: 0, clientId });
    assert.equal((await back.expect(PacketType.CONNACK)).sessionPresent, true);
    const got: string[] = [];
    for (let i = 0; i < 5; i++) {
      const p = await back.expect(PacketType.PUBLISH);
      assert.equal(p.dup, false);
      got.push(p.payload.toString());
      back.send({ type: PacketType.PUBACK, packetId: p.packetId, reasonCode: 0 });
    }
    assert.deepEqual(got, ['m0', 'm1', 'm2', 'm3', 'm4']);
    back.send({ type: PacketType.PINGREQ });
    await back.expect(PacketType.PINGRESP); // and no QoS 0 message before it
    await Promise.all([back.end(), pub.end()]);
  });
});

describe('batched writes', () => {
  // One socket write from the publisher makes one broker turn: small packets are joined, large
  // payloads go out as they are, and past maxSocketBacklog the turn is written out early. The
  // subscriber must still see every byte of every message, in order.
  for (const qos of [0, 1] as const) {
    test(`QoS ${qos}: small and large messages in one turn, past the backlog, arrive whole and in order`, async () => {
      const small = await startBroker({ maxSocketBacklog: 64 * 1024 });
      try {
        const sub = await RawClient.connect(small.port, { clientId: `batch-sub-${qos}` });
        assert.deepEqual(await sub.subscribe('batch/#', qos), [qos]);
        const pub = await RawClient.connect(small.port, { clientId: `batch-pub-${qos}` });
        const sizes = [5, 3000, 100_000, 1, 1023, 1024, 20_000, 0, 7, 300_000, 2048, 9];
        const payloads = sizes.map((n, i) => Buffer.alloc(n, 0x41 + i));
        const packets = payloads.map((p, i) => encode({
          type: PacketType.PUBLISH, topic: `batch/${i}`, payload: p, qos, retain: false, dup: false, packetId: qos === 0 ? 0 : i + 1,
        }, 4));
        pub.send(Buffer.concat(packets));
        for (let i = 0; i < sizes.length; i++) {
          const p = await sub.expect(PacketType.PUBLISH);
          assert.equal(p.topic, `batch/${i}`);
          assert.ok(p.payload.equals(payloads[i]), `payload ${i} (${sizes[i]} bytes) intact`);
          if (qos === 1) sub.send({ type: PacketType.PUBACK, packetId: p.packetId, reasonCode: 0 });
        }
        await Promise.all([sub.end(), pub.end()]);
      } finally {
        await small.close();
      }
    });
  }
});
