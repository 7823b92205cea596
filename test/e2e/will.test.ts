// Will messages end to end: when the broker publishes a will (the link ends without a normal
// DISCONNECT), when it does not, with its QoS, RETAIN flag and v5 properties, and the v5 Will
// Delay Interval against reconnects and session expiry.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PacketType, type ProtocolVersion, type Will } from '../../src/protocol/index.js';
import { connectClient, RawClient, startBroker, VERSIONS, within, type TestBroker, type TestClient } from './harness.js';

/** Every test is bounded, even where a broken broker would leave a client library waiting. */
const BOUND = { timeout: 15_000 };

let b: TestBroker;
before(async () => { b = await startBroker(); });
after(async () => { await b.close(); });

let seq = 0;
/** A unique short name (3.1 client ids are at most 23 characters). */
const uid = (p: string): string => `${p}${(++seq).toString(36)}${Math.random().toString(36).slice(2, 6)}`;

/**
 * Proves a client got nothing more: it publishes a marker to a topic only it subscribes to and
 * returns what arrived before the marker. The broker handles a client's packets in order and
 * writes to one socket in order, so anything owed from before shows up first.
 */
async function drainUntilMarker(c: TestClient): Promise<string[]> {
  const topic = uid('marker/');
  await within(c.client.subscribeAsync(topic, { qos: 0 }), 'the marker SUBACK');
  await within(c.client.publishAsync(topic, 'marker', { qos: 0 }), 'the marker publish');
  const before: string[] = [];
  for (;;) {
    const m = await c.nextMessage();
    if (m.topic === topic) return before;
    before.push(`${m.topic}:${m.payload}`);
  }
}

/** A watcher subscribed to the will topic. */
async function watcher(topic: string, version: 3 | 4 | 5 = 4, qos: 0 | 1 | 2 = 2): Promise<TestClient> {
  const w = await connectClient(b.url, version);
  await w.client.subscribeAsync(topic, { qos });
  return w;
}

function will(topic: string, payload = 'gone', extra: Partial<Will> = {}): Will {
  return { topic, payload: Buffer.from(payload), qos: 0, retain: false, ...extra };
}

async function rawWithWill(version: ProtocolVersion, topic: string, extra: Parameters<typeof RawClient.connect>[1] = {}): Promise<RawClient> {
  return RawClient.connect(b.port, { protocolVersion: version, clientId: uid('w'), will: will(topic), ...extra });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('will published when the link ends without DISCONNECT', () => {
  for (const version of VERSIONS) {
    test(`v${version}: socket destroyed (MQTT.js client with a will)`, BOUND, async () => {
      const topic = uid('will/destroy/');
      const w = await watcher(topic);
      const owner = await connectClient(b.url, version, { will: { topic, payload: Buffer.from(`bye v${version}`), qos: 0, retain: false } });
      owner.client.stream.destroy();
      const m = await w.nextMessage();
      assert.equal(m.topic, topic);
      assert.equal(m.payload, `bye v${version}`);
      owner.client.end(true);
      await w.end();
    });

    test(`v${version}: protocol error (garbage after CONNECT)`, BOUND, async () => {
      const topic = uid('will/garbage/');
      const w = await watcher(topic);
      const owner = await rawWithWill(version, topic);
      owner.send(Buffer.from([0x00, 0x00, 0xde, 0xad])); // packet type 0 is reserved
      if (version === 5) assert.equal((await owner.expect(PacketType.DISCONNECT)).reasonCode, 0x81);
      await owner.expectClose();
      assert.equal((await w.nextMessage()).topic, topic);
      await w.end();
    });

    test(`v${version}: takeover by a new connection with the same client id`, BOUND, async () => {
      const topic = uid('will/takeover/');
      const w = await watcher(topic);
      const clientId = uid('tk');
      const owner = await rawWithWill(version, topic, { clientId });
      const next = await RawClient.connect(b.port, { protocolVersion: version, clientId });
      // [MQTT-3.1.4-3] (v5): the old connection is told 0x8E and closed; 3.x: just closed.
      if (version === 5) assert.equal((await owner.expect(PacketType.DISCONNECT)).reasonCode, 0x8e);
      await owner.expectClose();
      assert.equal((await w.nextMessage()).topic, topic);
      next.send({ type: PacketType.DISCONNECT, reasonCode: 0 });
      await next.expectClose();
      await w.end();
    });

    test(`v${version}: NOT published after a normal DISCONNECT [MQTT-3.14.4-3]`, BOUND, async () => {
      const topic = uid('will/normal/');
      const w = await watcher(topic);
      const owner = await connectClient(b.url, version, { will: { topic, payload: Buffer.from('should not'), qos: 1, retain: false } });
      const closed = new Promise<void>((resolve) => owner.client.stream.once('close', () => resolve()));
      await owner.end();
      await within(closed, 'the owner socket to close'); // the broker has handled the DISCONNECT
      assert.deepEqual(await drainUntilMarker(w), []);
      await w.end();
    });

    test(`v${version}: will QoS and RETAIN honoured; the retained will reaches a later subscriber with RETAIN=1`, BOUND, async () => {
      const topic = uid('will/retained/');
      const w = await watcher(topic, version, 2);
      const owner = await connectClient(b.url, version, { will: { topic, payload: Buffer.from('kept'), qos: 1, retain: true } });
      owner.client.stream.destroy();
      const live = await w.nextMessage();
      assert.equal(live.packet.qos, 1);
      // [MQTT-3.3.1-9] (3.1.1) and v5 without Retain As Published: RETAIN 0 on a live delivery.
      assert.equal(live.packet.retain, false);
      const later = await connectClient(b.url, version);
      await later.client.subscribeAsync(topic, { qos: 2 });
      const stored = await later.nextMessage();
      assert.equal(stored.payload, 'kept');
      assert.equal(stored.packet.qos, 1);
      assert.equal(stored.packet.retain, true);
      // Clean up the retained message.
      await later.client.publishAsync(topic, '', { qos: 0, retain: true });
      owner.client.end(true);
      await Promise.all([w.end(), later.end()]);
    });
  }

  test('v3, v4, v5: keep-alive timeout (1.5 x Keep Alive) publishes the will', BOUND, async () => {
    const runs = VERSIONS.map(async (version) => {
      const topic = uid('will/keepalive/');
      const w = await watcher(topic);
      const start = performance.now();
      const owner = await rawWithWill(version, topic, { keepAlive: 1 });
      // The client stays silent: no PINGREQ.
      if (version === 5) assert.equal((await owner.expect(PacketType.DISCONNECT, 4000)).reasonCode, 0x8d);
      await owner.expectClose(4000);
      const m = await w.nextMessage(4000);
      const elapsed = performance.now() - start;
      assert.equal(m.topic, topic);
      assert.ok(elapsed >= 1400 && elapsed < 3000, `will after ${elapsed} ms, expected about 1500`);
      await w.end();
    });
    await Promise.all(runs);
  });

  test('v5: DISCONNECT with 0x04 (Disconnect with Will Message) publishes the will', BOUND, async () => {
    const topic = uid('will/x04/');
    const w = await watcher(topic, 5);
    const owner = await connectClient(b.url, 5, { will: { topic, payload: Buffer.from('asked for'), qos: 1, retain: false } });
    await within(owner.client.endAsync(false, { reasonCode: 0x04 }), 'MQTT.js to end');
    const m = await w.nextMessage();
    assert.equal(m.payload, 'asked for');
    await w.end();
  });

  test('v5: DISCONNECT 0x00 with a raw client discards the will', BOUND, async () => {
    const topic = uid('will/x00/');
    const w = await watcher(topic, 5);
    const owner = await rawWithWill(5, topic);
    owner.send({ type: PacketType.DISCONNECT, reasonCode: 0 });
    await owner.expectClose(); // the broker closed it after handling the DISCONNECT
    assert.deepEqual(await drainUntilMarker(w), []);
    await w.end();
  });

  test('v5: will properties are forwarded (content type, user properties, response topic, correlation data)', BOUND, async () => {
    const topic = uid('will/props/');
    const w = await watcher(topic, 5);
    const owner = await connectClient(b.url, 5, {
      will: {
        topic, payload: Buffer.from('{"state":"offline"}'), qos: 1, retain: false,
        properties: {
          contentType: 'application/json',
          userProperties: { site: 'north', rack: ['r1', 'r2'] },
          responseTopic: 'replies/here',
          correlationData: Buffer.from([1, 2, 3, 255]),
          payloadFormatIndicator: true,
          messageExpiryInterval: 3600,
        },
      },
    });
    owner.client.stream.destroy();
    const m = await w.nextMessage();
    const p = m.packet.properties ?? {};
    assert.equal(m.payload, '{"state":"offline"}');
    assert.equal(p.contentType, 'application/json');
    assert.deepEqual({ ...p.userProperties }, { site: 'north', rack: ['r1', 'r2'] });
    assert.equal(p.responseTopic, 'replies/here');
    assert.deepEqual(Buffer.from(p.correlationData!), Buffer.from([1, 2, 3, 255]));
    assert.equal(p.payloadFormatIndicator, true);
    assert.ok(p.messageExpiryInterval !== undefined && p.messageExpiryInterval <= 3600 && p.messageExpiryInterval >= 3598);
    owner.client.end(true);
    await w.end();
  });

  test('v5: user property order is kept exactly (raw subscriber) [MQTT-3.3.2-18]', BOUND, async () => {
    const topic = uid('will/order/');
    const sub = await RawClient.connect(b.port, { protocolVersion: 5 });
    await sub.subscribe(topic, 1);
    const userProperties: [string, string][] = [['b', '1'], ['a', '2'], ['b', '3']];
    const owner = await rawWithWill(5, topic, { will: { ...will(topic), properties: { userProperties, contentType: 'text/plain' } } });
    owner.destroy();
    const p = await sub.expect(PacketType.PUBLISH);
    assert.deepEqual(p.properties?.userProperties, userProperties);
    assert.equal(p.properties?.contentType, 'text/plain');
    // The Will Delay Interval is not a PUBLISH property.
    assert.equal((p.properties as Record<string, unknown> | undefined)?.willDelayInterval, undefined);
    await sub.end();
  });
});

describe('v5 Will Delay Interval', () => {
  test('published after the delay (1 s), not before', BOUND, async () => {
    const topic = uid('will/delay/');
    const w = await watcher(topic, 5);
    const owner = await RawClient.connect(b.port, {
      protocolVersion: 5, clientId: uid('d'), properties: { sessionExpiryInterval: 30 },
      will: { ...will(topic, 'late'), properties: { willDelayInterval: 1 } },
    });
    const start = performance.now();
    owner.destroy();
    const m = await w.nextMessage(4000);
    const elapsed = performance.now() - start;
    assert.equal(m.payload, 'late');
    assert.ok(elapsed >= 990, `will after ${elapsed} ms, before the 1 s delay`);
    assert.ok(elapsed < 1800, `will after ${elapsed} ms, long after the 1 s delay`);
    await w.end();
  });

  test('cancelled when the client reconnects to its session before the delay [MQTT-3.1.3-10]', BOUND, async () => {
    const topic = uid('will/cancel/');
    const clientId = uid('c');
    const w = await watcher(topic, 5);
    const owner = await RawClient.connect(b.port, {
      protocolVersion: 5, clientId, properties: { sessionExpiryInterval: 30 },
      will: { ...will(topic, 'cancelled'), properties: { willDelayInterval: 1 } },
    });
    const start = performance.now();
    await owner.end(); // no DISCONNECT: the will is pending
    const back = await RawClient.connect(b.port, { protocolVersion: 5, clientId, clean: false, properties: { sessionExpiryInterval: 30 } });
    assert.ok(performance.now() - start < 900, 'reconnected before the delay');
    // Idle past the delay: the will must not come.
    await sleep(1300 - (performance.now() - start));
    assert.deepEqual(await drainUntilMarker(w), []);
    back.send({ type: PacketType.DISCONNECT, reasonCode: 0, properties: { sessionExpiryInterval: 0 } });
    await back.expectClose();
    await w.end();
  });

  test('published when the session ends, if the session expiry is shorter than the delay [MQTT-3.1.3-9]', BOUND, async () => {
    const topic = uid('will/expiry/');
    const w = await watcher(topic, 5);
    const owner = await RawClient.connect(b.port, {
      protocolVersion: 5, clientId: uid('e'), properties: { sessionExpiryInterval: 1 },
      will: { ...will(topic, 'session over'), properties: { willDelayInterval: 30 } },
    });
    const start = performance.now();
    owner.destroy();
    const m = await w.nextMessage(4000);
    const elapsed = performance.now() - start;
    assert.equal(m.payload, 'session over');
    assert.ok(elapsed >= 990 && elapsed < 2500, `will after ${elapsed} ms, expected at the 1 s session expiry`);
    await w.end();
  });

  test('published at once when the client reconnects with Clean Start (its session ends)', BOUND, async () => {
    const topic = uid('will/clean/');
    const clientId = uid('s');
    const w = await watcher(topic, 5);
    const owner = await RawClient.connect(b.port, {
      protocolVersion: 5, clientId, properties: { sessionExpiryInterval: 60 },
      will: { ...will(topic, 'clean start'), properties: { willDelayInterval: 30 } },
    });
    await owner.end();
    const start = performance.now();
    const back = await RawClient.connect(b.port, { protocolVersion: 5, clientId, clean: true });
    const m = await w.nextMessage(2000);
    assert.equal(m.payload, 'clean start');
    assert.ok(performance.now() - start < 1000, 'published at the reconnect, not after the 30 s delay');
    back.send({ type: PacketType.DISCONNECT, reasonCode: 0 });
    await back.expectClose();
    await w.end();
  });

  test('takeover with Clean Start 0 cancels a delayed will (3.1.3.2.2)', BOUND, async () => {
    const topic = uid('will/tk0/');
    const clientId = uid('t');
    const w = await watcher(topic, 5);
    const owner = await RawClient.connect(b.port, {
      protocolVersion: 5, clientId, properties: { sessionExpiryInterval: 30 },
      will: { ...will(topic, 'taken over'), properties: { willDelayInterval: 1 } },
    });
    const start = performance.now();
    // v5 3.1.3.2.2: the will of a taken-over connection is not sent when the new connection
    // has Clean Start 0 and the will has a delay.
    const next = await RawClient.connect(b.port, { protocolVersion: 5, clientId, clean: false, properties: { sessionExpiryInterval: 30 } });
    assert.equal((await owner.expect(PacketType.DISCONNECT)).reasonCode, 0x8e);
    await sleep(1300 - (performance.now() - start));
    assert.deepEqual(await drainUntilMarker(w), []);
    next.send({ type: PacketType.DISCONNECT, reasonCode: 0, properties: { sessionExpiryInterval: 0 } });
    await next.expectClose();
    await w.end();
  });
});
