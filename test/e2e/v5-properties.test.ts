// MQTT 5 message and connection properties end to end: the publication properties a v5
// subscriber gets unchanged (and a 3.x one never sees), Message Expiry Interval on queued and
// retained messages, Response Information, Request Problem Information, the PUBACK reason
// codes 0x10 and 0x87, and all of it again across a persistent session's reconnect.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import {
  PacketType, type ConnectPacket, type PublishPacket, type PublishProperties, type QoS, type Subscription,
} from '../../src/protocol/index.js';
import { RawClient, startBroker, within, type TestBroker, uid, clientsEndedAfterEach } from './harness.js';

/** Every test is bounded, even where a broken broker would leave a client library waiting. */
const BOUND = { timeout: 15_000 };


const { raw, js, rawOpen } = clientsEndedAfterEach();

/** Every publication property a publisher may set, with repeated and unordered User Property keys. */
const FULL: PublishProperties = {
  payloadFormatIndicator: true,
  contentType: 'application/json; charset=utf-8',
  responseTopic: 'reply/to/me',
  correlationData: Buffer.from([0x00, 0xff, 0x10, 0x80, 0x7f]),
  userProperties: [['z', '1'], ['a', '2'], ['z', '3'], ['z', '1'], ['', ''], ['ключ', 'значение']],
};

function sub(filter: string, qos: QoS, extra: Partial<Subscription> = {}): Subscription {
  return { filter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0, ...extra };
}

/** SUBSCRIBE with options and an optional Subscription Identifier; resolves with the SUBACK codes. */
async function subscribe(c: RawClient, subs: Subscription[], subscriptionIdentifier?: number, packetId = 1): Promise<number[]> {
  c.send({
    type: PacketType.SUBSCRIBE, packetId, subscriptions: subs,
    ...(subscriptionIdentifier !== undefined ? { properties: { subscriptionIdentifier } } : {}),
  });
  const ack = await c.expect(PacketType.SUBACK);
  assert.equal(ack.packetId, packetId);
  return ack.reasonCodes;
}

async function ping(c: RawClient): Promise<void> {
  c.send({ type: PacketType.PINGREQ });
  await c.expect(PacketType.PINGRESP);
}

/** A normal DISCONNECT; resolves once the broker has closed the link (and so let go of the session). */
async function leave(c: RawClient): Promise<void> {
  c.send({ type: PacketType.DISCONNECT, reasonCode: 0 });
  await within(c.closedPromise, 'the broker to close the link');
}

/** A raw v5 connection resuming (or starting) a persistent session; returns the CONNACK too. */
async function persistent(port: number, clientId: string, extra: Partial<ConnectPacket> = {}) {
  const c = await rawOpen(port, 5);
  c.send({
    type: PacketType.CONNECT, protocolVersion: 5, clean: false, keepAlive: 0, clientId,
    ...extra, properties: { sessionExpiryInterval: 60, ...extra.properties },
  });
  const connack = await c.expect(PacketType.CONNACK);
  assert.equal(connack.reasonCode, 0);
  return { c, connack };
}

/** A QoS 1 publish from a raw client, resolved with its PUBACK reason code. */
async function publish1(c: RawClient, topic: string, payload: string, packetId: number, extra: Partial<PublishPacket> = {}): Promise<number> {
  c.publish(topic, payload, 1, { packetId, ...extra });
  const ack = await c.expect(PacketType.PUBACK);
  assert.equal(ack.packetId, packetId);
  return ack.reasonCode;
}

/** Idles until `ms` after `t0` (only to let an expiry clock run); returns the time actually elapsed. */
async function sleepUntil(t0: number, ms: number): Promise<number> {
  // Timers may fire a little early by this clock: go on until the time has really passed.
  for (let left = t0 + ms - performance.now(); left > 0; left = t0 + ms - performance.now()) await delay(Math.ceil(left) + 1);
  return performance.now() - t0;
}

describe('publication properties', () => {
  let b: TestBroker;
  before(async () => { b = await startBroker({ sysInterval: 0 }); });
  after(() => within(b.close(), 'the broker to close', 5000)); // bounded too

  test('raw: every property reaches v5 subscribers unchanged at QoS 0, 1 and 2; a 3.1.1 subscriber gets the message without them [MQTT-3.3.2-4] [MQTT-3.3.2-17] [MQTT-3.3.2-18] [MQTT-3.3.2-20]', BOUND, async () => {
    const base = uid('props/');
    const v5a = await raw(b.port, { protocolVersion: 5 });
    assert.deepEqual(await subscribe(v5a, [sub(`${base}/+`, 2)]), [2]);
    // A second v5 subscriber at another QoS, through a wildcard, with a subscription identifier:
    // its copy is encoded apart and must carry the same properties.
    const v5b = await raw(b.port, { protocolVersion: 5 });
    assert.deepEqual(await subscribe(v5b, [sub(`${base}/#`, 0)], 77), [0]);
    const v4 = await raw(b.port, { protocolVersion: 4 });
    assert.deepEqual(await v4.subscribe(`${base}/+`, 2), [2]);
    const pub = await raw(b.port, { protocolVersion: 5 });
    // The explicit Payload Format Indicator 0 is forwarded too ("unaltered", [MQTT-3.3.2-4]).
    const variants: PublishProperties[] = [FULL, { ...FULL, payloadFormatIndicator: false }, { userProperties: [['k', 'v'], ['k', 'v']] }];
    for (const qos of [0, 1, 2] as const) {
      for (const [i, properties] of variants.entries()) {
        const topic = `${base}/q${qos}`;
        const payload = `m${qos}.${i}`;
        pub.publish(topic, payload, qos, { packetId: 10 + i, properties });
        if (qos === 1) assert.equal((await pub.expect(PacketType.PUBACK)).reasonCode, 0);
        if (qos === 2) assert.equal((await pub.expect(PacketType.PUBREC)).reasonCode, 0);
        const a = await v5a.expect(PacketType.PUBLISH);
        assert.deepEqual([a.topic, a.payload.toString(), a.qos], [topic, payload, qos]);
        assert.deepEqual(a.properties, properties, `v5 subscriber, QoS ${qos}, variant ${i}`);
        if (a.qos > 0) v5a.send({ type: a.qos === 1 ? PacketType.PUBACK : PacketType.PUBREC, packetId: a.packetId, reasonCode: 0 });
        if (a.qos === 2) {
          await v5a.expect(PacketType.PUBREL);
          v5a.send({ type: PacketType.PUBCOMP, packetId: a.packetId, reasonCode: 0 });
        }
        const c = await v5b.expect(PacketType.PUBLISH);
        assert.deepEqual([c.topic, c.payload.toString(), c.qos], [topic, payload, 0]);
        assert.deepEqual(c.properties, { ...properties, subscriptionIdentifiers: [77] }, `v5 subscriber with an identifier, variant ${i}`);
        const d = await v4.expect(PacketType.PUBLISH);
        assert.deepEqual([d.topic, d.payload.toString(), d.qos, d.properties], [topic, payload, qos, undefined]);
        if (d.qos > 0) v4.send({ type: d.qos === 1 ? PacketType.PUBACK : PacketType.PUBREC, packetId: d.packetId, reasonCode: 0 });
        if (d.qos === 2) {
          await v4.expect(PacketType.PUBREL);
          v4.send({ type: PacketType.PUBCOMP, packetId: d.packetId, reasonCode: 0 });
        }
        if (qos === 2) {
          pub.send({ type: PacketType.PUBREL, packetId: 10 + i, reasonCode: 0 });
          await pub.expect(PacketType.PUBCOMP);
        }
      }
    }
    await Promise.all([v5a, v5b, v4, pub].map((c) => c.end()));
  });

  test('MQTT.js: a v5 subscriber gets the properties, 3.1.1 and 3.1 subscribers the bare message', BOUND, async () => {
    const topic = uid('props-js/');
    const v5 = await js(b.url, 5);
    const v4 = await js(b.url, 4);
    const v3 = await js(b.url, 3);
    for (const c of [v5, v4, v3]) await within(c.client.subscribeAsync(topic, { qos: 1 }), 'SUBACK');
    const pub = await js(b.url, 5);
    await within(pub.client.publishAsync(topic, '{"x":1}', {
      qos: 1,
      properties: {
        payloadFormatIndicator: true, contentType: 'application/json', responseTopic: 'reply/js',
        correlationData: Buffer.from([1, 2, 3, 0xfe]), userProperties: { trace: 'abc', tag: ['x', 'y', 'x'] },
      },
    }), 'the publish');
    const m = await v5.nextMessage();
    assert.equal(m.payload, '{"x":1}');
    const p = m.packet.properties ?? {};
    assert.equal(p.payloadFormatIndicator, true);
    assert.equal(p.contentType, 'application/json');
    assert.equal(p.responseTopic, 'reply/js');
    assert.deepEqual([...Buffer.from(p.correlationData!)], [1, 2, 3, 0xfe]);
    assert.deepEqual({ ...p.userProperties }, { trace: 'abc', tag: ['x', 'y', 'x'] });
    for (const old of [v4, v3]) {
      const o = await old.nextMessage();
      assert.deepEqual([o.topic, o.payload], [topic, '{"x":1}']);
      assert.equal(o.packet.properties, undefined);
    }
    await Promise.all([v5, v4, v3, pub].map((c) => c.end()));
  });

  test('a live subscriber gets the full Message Expiry Interval it was published with', BOUND, async () => {
    const topic = uid('exp-live/');
    const s = await raw(b.port, { protocolVersion: 5 });
    await subscribe(s, [sub(topic, 1)]);
    const pub = await raw(b.port, { protocolVersion: 5 });
    assert.equal(await publish1(pub, topic, 'x', 1, { properties: { ...FULL, messageExpiryInterval: 10 } }), 0);
    const p = await s.expect(PacketType.PUBLISH);
    // Nothing waited in the server: the interval is unchanged (3.3.2.3.3), the rest too.
    assert.deepEqual(p.properties, { ...FULL, messageExpiryInterval: 10 });
    await Promise.all([s.end(), pub.end()]);
  });
});

describe('Message Expiry Interval while queued or retained', () => {
  let b: TestBroker;
  before(async () => { b = await startBroker({ sysInterval: 0 }); });
  after(() => within(b.close(), 'the broker to close', 5000)); // bounded too

  test('a message queued for an offline session arrives with the interval minus the time it waited (3.3.2.3.3)', BOUND, async () => {
    const clientId = uid('exp-q');
    const topic = uid('exp-q/');
    const first = await persistent(b.port, clientId);
    await subscribe(first.c, [sub(topic, 1)]);
    await leave(first.c);
    const pub = await raw(b.port, { protocolVersion: 5 });
    assert.equal(await publish1(pub, topic, 'ten', 1, { properties: { messageExpiryInterval: 10 } }), 0);
    const t0 = performance.now();
    const waited = await sleepUntil(t0, 1100);
    assert.ok(waited >= 1100 && waited < 5000, `waited ${waited.toFixed(0)} ms`);
    const back = await persistent(b.port, clientId);
    assert.equal(back.connack.sessionPresent, true);
    const p = await back.c.expect(PacketType.PUBLISH);
    assert.equal(p.payload.toString(), 'ten');
    const left = p.properties?.messageExpiryInterval;
    assert.ok(left !== undefined && left > 0 && left <= 9, `remaining interval ${left} after ${waited.toFixed(0)} ms`);
    await Promise.all([back.c.end(), pub.end()]);
  });

  test('a message whose interval runs out while queued is not delivered; a later one is', BOUND, async () => {
    const clientId = uid('exp-gone');
    const topic = uid('exp-gone/');
    const first = await persistent(b.port, clientId);
    await subscribe(first.c, [sub(topic, 2)]);
    await leave(first.c);
    const pub = await raw(b.port, { protocolVersion: 5 });
    const t0 = performance.now();
    assert.equal(await publish1(pub, topic, 'expires', 1, { properties: { messageExpiryInterval: 1 } }), 0);
    assert.equal(await publish1(pub, topic, 'marker', 2), 0);
    const waited = await sleepUntil(t0, 1500);
    assert.ok(waited >= 1500 && waited < 5000, `waited ${waited.toFixed(0)} ms`);
    const back = await persistent(b.port, clientId);
    assert.equal(back.connack.sessionPresent, true);
    const p = await back.c.expect(PacketType.PUBLISH);
    assert.equal(p.payload.toString(), 'marker', 'the expired message is skipped');
    assert.equal(p.properties, undefined);
    back.c.send({ type: PacketType.PUBACK, packetId: p.packetId, reasonCode: 0 });
    await ping(back.c); // nothing else was queued
    await Promise.all([back.c.end(), pub.end()]);
  });

  test('a retained message: a later subscriber gets the remaining interval; after expiry nobody gets it', BOUND, async () => {
    const topic = uid('exp-ret/');
    const pub = await raw(b.port, { protocolVersion: 5 });
    const t0 = performance.now();
    // Retained with nobody subscribed: accepted (0x00 or 0x10 both mean that).
    const code = await publish1(pub, topic, 'kept', 1, { retain: true, properties: { ...FULL, messageExpiryInterval: 2 } });
    assert.ok(code === 0x00 || code === 0x10, `PUBACK 0x${code.toString(16)}`);

    const early = await raw(b.port, { protocolVersion: 5 });
    await subscribe(early, [sub(topic, 1)]);
    const now = await early.expect(PacketType.PUBLISH);
    assert.deepEqual([now.payload.toString(), now.retain], ['kept', true]);
    assert.deepEqual(now.properties, { ...FULL, messageExpiryInterval: 2 }, 'at once: the whole interval, all properties');

    const waited = await sleepUntil(t0, 1100);
    assert.ok(waited >= 1100 && waited < 1900, `waited ${waited.toFixed(0)} ms`);
    const later = await raw(b.port, { protocolVersion: 5 });
    await subscribe(later, [sub(topic, 1)]);
    const p = await later.expect(PacketType.PUBLISH);
    assert.deepEqual([p.payload.toString(), p.retain], ['kept', true]);
    assert.deepEqual(p.properties, { ...FULL, messageExpiryInterval: 1 }, `remaining interval after ${waited.toFixed(0)} ms`);

    const waited2 = await sleepUntil(t0, 2200);
    assert.ok(waited2 >= 2200 && waited2 < 5000, `waited ${waited2.toFixed(0)} ms`);
    const late = await raw(b.port, { protocolVersion: 5 });
    await subscribe(late, [sub(topic, 1)]);
    await ping(late); // the SUBACK's retained messages come before the PINGRESP: none
    assert.equal(late.buffered.length, 0);
    await Promise.all([pub, early, later, late].map((c) => c.end()));
  });
});

describe('Response Information (default prefix)', () => {
  let b: TestBroker;
  before(async () => { b = await startBroker({ sysInterval: 0 }); });
  after(() => within(b.close(), 'the broker to close', 5000)); // bounded too

  test('CONNACK has response/<clientId> when asked, none when not asked or asked with 0 (3.1.2.11.6, 3.2.2.3.15)', BOUND, async () => {
    const cases: [props: ConnectPacket['properties'], expected: (id: string) => string | undefined][] = [
      [{ requestResponseInformation: true }, (id) => `response/${id}`],
      [undefined, () => undefined],
      [{ requestResponseInformation: false }, () => undefined],
    ];
    for (const [properties, expected] of cases) {
      const clientId = uid('ri');
      const c = await rawOpen(b.port, 5);
      c.send({ type: PacketType.CONNECT, protocolVersion: 5, clean: true, keepAlive: 0, clientId, properties });
      const connack = await c.expect(PacketType.CONNACK);
      assert.equal(connack.reasonCode, 0);
      assert.equal(connack.properties?.responseInformation, expected(clientId), JSON.stringify(properties));
      await c.end();
    }
  });

  test('with an assigned client identifier, the Response Information names the assigned one', BOUND, async () => {
    const c = await rawOpen(b.port, 5);
    c.send({ type: PacketType.CONNECT, protocolVersion: 5, clean: true, keepAlive: 0, clientId: '', properties: { requestResponseInformation: true } });
    const connack = await c.expect(PacketType.CONNACK);
    const assigned = connack.properties?.assignedClientIdentifier;
    assert.ok(assigned !== undefined && assigned.length > 0);
    assert.equal(connack.properties?.responseInformation, `response/${assigned}`);
    await c.end();
  });

  test('MQTT.js sees it in its CONNACK', BOUND, async () => {
    const clientId = uid('ri-js');
    const c = await js(b.url, 5, { clientId, properties: { requestResponseInformation: true } });
    const connack = (c.client as unknown as { connackPacket: { properties?: { responseInformation?: string } } }).connackPacket;
    assert.equal(connack.properties?.responseInformation, `response/${clientId}`);
    await c.end();
  });
});

describe("Response Information with responseInformation: ''", () => {
  let b: TestBroker;
  before(async () => { b = await startBroker({ sysInterval: 0, responseInformation: '' }); });
  after(() => within(b.close(), 'the broker to close', 5000)); // bounded too

  test('none, even when asked', BOUND, async () => {
    const c = await rawOpen(b.port, 5);
    c.send({ type: PacketType.CONNECT, protocolVersion: 5, clean: true, keepAlive: 0, clientId: uid('ri-off'), properties: { requestResponseInformation: true } });
    const connack = await c.expect(PacketType.CONNACK);
    assert.equal(connack.reasonCode, 0);
    assert.equal(connack.properties?.responseInformation, undefined);
    await c.end();
  });
});

describe('Request Problem Information', () => {
  let b: TestBroker;
  before(async () => { b = await startBroker({ sysInterval: 0 }); });
  after(() => within(b.close(), 'the broker to close', 5000)); // bounded too

  /** Provokes a protocol error (an unknown topic alias) and returns the broker's DISCONNECT. */
  async function protocolErrorDisconnect(properties: ConnectPacket['properties']) {
    const c = await raw(b.port, { protocolVersion: 5, properties });
    c.publish('', 'x', 0, { properties: { topicAlias: 5 } });
    const d = await c.expect(PacketType.DISCONNECT);
    await c.expectClose();
    return d;
  }

  test('0: the DISCONNECT for a protocol error carries no Reason String (3.1.2.11.7)', BOUND, async () => {
    const d = await protocolErrorDisconnect({ requestProblemInformation: false });
    assert.equal(d.reasonCode, 0x82);
    assert.equal(d.properties?.reasonString, undefined);
  });

  test('1 (explicit or by default): it carries one', BOUND, async () => {
    for (const properties of [undefined, { requestProblemInformation: true }]) {
      const d = await protocolErrorDisconnect(properties);
      assert.equal(d.reasonCode, 0x82);
      assert.equal(typeof d.properties?.reasonString, 'string', JSON.stringify(properties));
      assert.ok(d.properties!.reasonString!.length > 0);
    }
  });
});

describe('PUBACK and PUBREC reason codes', () => {
  let b: TestBroker;
  before(async () => { b = await startBroker({ sysInterval: 0 }); });
  after(() => within(b.close(), 'the broker to close', 5000)); // bounded too

  test('0x10 No matching subscribers when nobody is subscribed; 0x00 when someone is (3.4.2.1, 3.5.2.1)', BOUND, async () => {
    const topic = uid('nms/');
    const pub = await raw(b.port, { protocolVersion: 5 });
    assert.equal(await publish1(pub, topic, 'nobody', 1), 0x10);
    pub.publish(topic, 'nobody', 2, { packetId: 2 });
    const rec = await pub.expect(PacketType.PUBREC);
    assert.deepEqual([rec.packetId, rec.reasonCode], [2, 0x10]);
    // 0x10 is a success: the exchange completes.
    pub.send({ type: PacketType.PUBREL, packetId: 2, reasonCode: 0 });
    const comp = await pub.expect(PacketType.PUBCOMP);
    assert.deepEqual([comp.packetId, comp.reasonCode], [2, 0]);

    const s = await raw(b.port, { protocolVersion: 5 });
    await subscribe(s, [sub(topic, 1)]);
    assert.equal(await publish1(pub, topic, 'someone', 3), 0x00);
    assert.equal((await s.expect(PacketType.PUBLISH)).payload.toString(), 'someone');
    // A 3.1.1 publisher has no such code: a plain PUBACK either way.
    const old = await raw(b.port, { protocolVersion: 4 });
    old.publish(uid('nms/'), 'x', 1, { packetId: 4 });
    assert.deepEqual(await old.expect(PacketType.PUBACK), { type: PacketType.PUBACK, packetId: 4, reasonCode: 0 });
    await Promise.all([pub, s, old].map((c) => c.end()));
  });

  test('a `$` topic: v5 PUBACK / PUBREC 0x87, 3.1.1 acknowledged; neither delivered to a `$x/#` subscriber (4.7.2)', BOUND, async () => {
    const root = uid('$petrel');
    const watcher = await raw(b.port, { protocolVersion: 5 });
    await subscribe(watcher, [sub(`${root}/#`, 2)]);
    const v5 = await raw(b.port, { protocolVersion: 5 });
    assert.equal(await publish1(v5, `${root}/a`, 'v5', 1), 0x87);
    v5.publish(`${root}/b`, 'v5', 2, { packetId: 2 });
    const rec = await v5.expect(PacketType.PUBREC);
    assert.deepEqual([rec.packetId, rec.reasonCode], [2, 0x87]);
    v5.publish(`${root}/c`, 'v5 qos 0', 0);
    const v4 = await raw(b.port, { protocolVersion: 4 });
    v4.publish(`${root}/d`, 'v4', 1, { packetId: 3 });
    assert.deepEqual(await v4.expect(PacketType.PUBACK), { type: PacketType.PUBACK, packetId: 3, reasonCode: 0 });
    v4.publish(`${root}/e`, 'v4', 2, { packetId: 4 });
    assert.equal((await v4.expect(PacketType.PUBREC)).packetId, 4);
    v4.send({ type: PacketType.PUBREL, packetId: 4, reasonCode: 0 });
    assert.equal((await v4.expect(PacketType.PUBCOMP)).packetId, 4);
    await ping(v5); // the QoS 0 publish has been handled
    // The broker itself may publish there: that is the first thing the watcher gets.
    b.broker.publish({ topic: `${root}/sys`, payload: 'from the broker' });
    const p = await watcher.expect(PacketType.PUBLISH);
    assert.deepEqual([p.topic, p.payload.toString()], [`${root}/sys`, 'from the broker']);
    // Both connections are still up: a refusal is not an error.
    await Promise.all([ping(v5), ping(v4)]);
    await Promise.all([watcher, v5, v4].map((c) => c.end()));
  });
});

describe('across a reconnect of a persistent session', () => {
  let b: TestBroker;
  before(async () => { b = await startBroker({ sysInterval: 0 }); });
  after(() => within(b.close(), 'the broker to close', 5000)); // bounded too

  test('subscription options and identifiers kept, properties unchanged, expiry counted while queued, new connection options apply', BOUND, async () => {
    const clientId = uid('resume');
    const base = uid('resume/');
    const first = await persistent(b.port, clientId, { properties: { requestResponseInformation: false } });
    assert.equal(first.connack.properties?.responseInformation, undefined);
    assert.deepEqual(await subscribe(first.c, [sub(`${base}/#`, 2, { retainAsPublished: true })], 7, 1), [2]);
    assert.deepEqual(await subscribe(first.c, [sub(`${base}/x`, 1)], 9, 2), [1]);
    await leave(first.c);

    const pub = await raw(b.port, { protocolVersion: 5 });
    // Someone is subscribed (the offline session): 0x00, not 0x10.
    pub.publish(`${base}/x`, 'retained', 2, { packetId: 1, retain: true, properties: { ...FULL, messageExpiryInterval: 10 } });
    assert.deepEqual([(await pub.expect(PacketType.PUBREC)).reasonCode], [0x00]);
    pub.send({ type: PacketType.PUBREL, packetId: 1, reasonCode: 0 });
    await pub.expect(PacketType.PUBCOMP);
    const t0 = performance.now();
    assert.equal(await publish1(pub, `${base}/y`, 'plain', 2, { properties: { userProperties: [['only', 'this']] } }), 0x00);
    assert.equal(await publish1(pub, `$${base}`, 'refused', 3), 0x87);
    const waited = await sleepUntil(t0, 1100);
    assert.ok(waited >= 1100 && waited < 5000, `waited ${waited.toFixed(0)} ms`);

    const back = await persistent(b.port, clientId, {
      properties: { requestResponseInformation: true, requestProblemInformation: false },
    });
    assert.equal(back.connack.sessionPresent, true);
    assert.equal(back.connack.properties?.responseInformation, `response/${clientId}`);
    const m1 = await back.c.expect(PacketType.PUBLISH);
    assert.deepEqual([m1.topic, m1.payload.toString(), m1.qos, m1.retain], [`${base}/x`, 'retained', 2, true], 'QoS 2 and Retain As Published kept');
    const { subscriptionIdentifiers: ids, messageExpiryInterval: left, ...rest } = m1.properties ?? {};
    assert.deepEqual([...(ids ?? [])].sort((x, y) => x - y), [7, 9], 'both identifiers of the overlapping subscriptions');
    assert.ok(left !== undefined && left > 0 && left <= 9, `remaining interval ${left}`);
    assert.deepEqual(rest, FULL);
    const m2 = await back.c.expect(PacketType.PUBLISH);
    assert.deepEqual([m2.topic, m2.payload.toString(), m2.qos, m2.retain], [`${base}/y`, 'plain', 1, false]);
    assert.deepEqual(m2.properties, { userProperties: [['only', 'this']], subscriptionIdentifiers: [7] });
    back.c.send({ type: PacketType.PUBREC, packetId: m1.packetId, reasonCode: 0 });
    assert.equal((await back.c.expect(PacketType.PUBREL)).packetId, m1.packetId);
    back.c.send({ type: PacketType.PUBCOMP, packetId: m1.packetId, reasonCode: 0 });
    back.c.send({ type: PacketType.PUBACK, packetId: m2.packetId, reasonCode: 0 });

    // Live messages after the reconnect: the same identifiers, and 0x00 for the publisher.
    assert.equal(await publish1(pub, `${base}/x`, 'live', 4), 0x00);
    const m3 = await back.c.expect(PacketType.PUBLISH);
    assert.equal(m3.payload.toString(), 'live');
    assert.deepEqual([...(m3.properties?.subscriptionIdentifiers ?? [])].sort((x, y) => x - y), [7, 9]);
    back.c.send({ type: PacketType.PUBACK, packetId: m3.packetId, reasonCode: 0 });

    // This connection asked for no problem information: its protocol error has no Reason String.
    back.c.publish('', 'x', 0, { properties: { topicAlias: 3 } });
    const d = await back.c.expect(PacketType.DISCONNECT);
    assert.equal(d.reasonCode, 0x82);
    assert.equal(d.properties?.reasonString, undefined);
    await back.c.expectClose();

    // The retained copy still counts down for a new subscriber.
    const late = await raw(b.port, { protocolVersion: 5 });
    await subscribe(late, [sub(`${base}/x`, 0)]);
    const r = await late.expect(PacketType.PUBLISH);
    assert.ok((r.properties?.messageExpiryInterval ?? 99) <= 9, `retained remaining ${r.properties?.messageExpiryInterval}`);
    pub.publish(`${base}/x`, '', 1, { packetId: 5, retain: true });
    await pub.expect(PacketType.PUBACK);
    await Promise.all([pub.end(), late.end()]);
  });
});
