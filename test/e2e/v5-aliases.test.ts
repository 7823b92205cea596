// Outbound Topic Aliases end to end (3.3.2.3.4): the broker gives the topics it sends a v5
// client alias numbers up to that client's Topic Alias Maximum, sends a topic once with its
// alias and then only the alias, reassigns the least recently used number when all are taken,
// and starts afresh on every connection. Raw subscribers check the exact packets; MQTT.js
// checks that a real client resolves them to the right topics.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PacketType, type ConnectPacket, type PublishPacket, type QoS, type Subscription } from '../../src/protocol/index.js';
import { RawClient, startBroker, within, type TestBroker, uid, clientsEndedAfterEach } from './harness.js';

/** Every test is bounded, even where a broken broker would leave a client library waiting. */
const BOUND = { timeout: 15_000 };


const { raw, js } = clientsEndedAfterEach();

/** What a subscriber saw of one PUBLISH: the topic as sent ('' when only the alias was), the alias, and what it resolves to. */
interface Seen { sent: string; alias: number | undefined; topic: string; payload: string }

/**
 * The client side of outbound aliases: resolves each PUBLISH as a client must, failing on an
 * alias above the maximum [MQTT-3.3.2-9] or an empty topic with an unknown alias.
 */
class AliasResolver {
  private readonly map = new Map<number, string>();
  constructor(private readonly maximum: number) {}

  resolve(p: PublishPacket): Seen {
    const alias = p.properties?.topicAlias;
    const payload = p.payload.toString();
    if (alias === undefined) {
      assert.notEqual(p.topic, '', 'an empty topic needs an alias');
      return { sent: p.topic, alias, topic: p.topic, payload };
    }
    assert.ok(alias >= 1 && alias <= this.maximum, `alias ${alias} outside 1..${this.maximum}`);
    if (p.topic !== '') {
      this.map.set(alias, p.topic);
      return { sent: p.topic, alias, topic: p.topic, payload };
    }
    const topic = this.map.get(alias);
    assert.ok(topic !== undefined, `alias ${alias} used before it was set`);
    return { sent: '', alias, topic, payload };
  }
}

function sub(filter: string, qos: QoS): Subscription {
  return { filter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 };
}

async function subscribe(c: RawClient, filter: string, qos: QoS, subscriptionIdentifier?: number): Promise<void> {
  c.send({
    type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [sub(filter, qos)],
    ...(subscriptionIdentifier !== undefined ? { properties: { subscriptionIdentifier } } : {}),
  });
  assert.deepEqual((await c.expect(PacketType.SUBACK)).reasonCodes, [qos]);
}

/** A raw v5 subscriber with the given CONNECT properties. */
function v5(port: number, properties: ConnectPacket['properties'], extra: Partial<ConnectPacket> = {}): Promise<RawClient> {
  return raw(port, { protocolVersion: 5, properties, ...extra });
}

async function ping(c: RawClient): Promise<void> {
  c.send({ type: PacketType.PINGREQ });
  await c.expect(PacketType.PINGRESP);
}

/** Publishes at QoS 0 in order from one raw client, then waits until the broker has handled them all. */
async function publishAll(pub: RawClient, messages: [topic: string, payload: string][]): Promise<void> {
  for (const [topic, payload] of messages) pub.publish(topic, payload, 0);
  await ping(pub);
}

/** The next `n` PUBLISH packets, acknowledged when QoS 1, as the client resolves them. */
async function receive(c: RawClient, resolver: AliasResolver, n: number): Promise<Seen[]> {
  const out: Seen[] = [];
  for (let i = 0; i < n; i++) {
    const p = await c.expect(PacketType.PUBLISH);
    out.push(resolver.resolve(p));
    if (p.qos === 1) c.send({ type: PacketType.PUBACK, packetId: p.packetId, reasonCode: 0 });
  }
  return out;
}

describe('outbound topic aliases', () => {
  let b: TestBroker;
  before(async () => { b = await startBroker({ sysInterval: 0 }); });
  after(() => within(b.close(), 'the broker to close', 5000)); // bounded too

  for (const qos of [0, 1] as const) {
    test(`QoS ${qos}, Topic Alias Maximum 2: topic + alias first, then the alias alone; a third topic takes the least recently used number`, BOUND, async () => {
      const base = uid('ta/');
      const [a, bb, c] = ['a', 'b', 'c'].map((t) => `${base}/${t}`);
      const s = await v5(b.port, { topicAliasMaximum: 2 });
      await subscribe(s, `${base}/#`, qos);
      const pub = await raw(b.port, { protocolVersion: 4 });
      const sequence: [string, string][] = [[a, '1'], [a, '2'], [a, '3'], [bb, '4'], [bb, '5'], [a, '6'], [c, '7'], [c, '8'], [bb, '9'], [a, '10'], [c, '11']];
      if (qos === 0) await publishAll(pub, sequence);
      else for (const [i, [topic, payload]] of sequence.entries()) pub.publish(topic, payload, 1, { packetId: i + 1 });
      const got = await receive(s, new AliasResolver(2), sequence.length);
      assert.deepEqual(got.map((g) => [g.sent, g.alias, g.payload]), [
        [a, 1, '1'], ['', 1, '2'], ['', 1, '3'], // a gets 1
        [bb, 2, '4'], ['', 2, '5'], // b gets 2
        ['', 1, '6'], // a used again: b is now the least recently used
        [c, 2, '7'], ['', 2, '8'], // c takes b's number
        [bb, 1, '9'], // b comes back on a's number (a is the least recently used)
        [a, 2, '10'], // a on c's
        [c, 1, '11'], // c on b's
      ]);
      assert.deepEqual(got.map((g) => [g.topic, g.payload]), sequence, 'each resolves to its topic');
      await ping(s); // nothing more
      await Promise.all([s.end(), pub.end()]);
    });
  }

  test('a Topic Alias Maximum of 0, or none, gets full topics and no aliases [MQTT-3.3.2-9]', BOUND, async () => {
    const topic = uid('ta0/');
    const zero = await v5(b.port, { topicAliasMaximum: 0 });
    const none = await v5(b.port, undefined);
    const old = await raw(b.port, { protocolVersion: 4 });
    for (const c of [zero, none]) await subscribe(c, topic, 0);
    await old.subscribe(topic, 0);
    const pub = await raw(b.port, { protocolVersion: 5 });
    await publishAll(pub, [[topic, 'x'], [topic, 'y'], [topic, 'z']]);
    for (const c of [zero, none, old]) {
      for (const payload of ['x', 'y', 'z']) {
        const p = await c.expect(PacketType.PUBLISH);
        assert.deepEqual([p.topic, p.payload.toString(), p.properties?.topicAlias], [topic, payload, undefined]);
      }
    }
    await Promise.all([zero, none, old, pub].map((c) => c.end()));
  });

  test('subscribers with different maximums get the same message with their own aliases; identifiers and expiry ride along', BOUND, async () => {
    const base = uid('tamix/');
    const [x, y] = [`${base}/x`, `${base}/y`];
    const one = await v5(b.port, { topicAliasMaximum: 1 });
    const three = await v5(b.port, { topicAliasMaximum: 3 });
    const withId = await v5(b.port, { topicAliasMaximum: 3 });
    const plain = await v5(b.port, undefined);
    for (const c of [one, three, plain]) await subscribe(c, `${base}/+`, 0);
    await subscribe(withId, `${base}/+`, 0, 12);
    const pub = await raw(b.port, { protocolVersion: 5 });
    const sequence: [string, string][] = [[x, '1'], [y, '2'], [x, '3'], [y, '4'], [x, '5']];
    for (const [topic, payload] of sequence) pub.publish(topic, payload, 0, payload === '4' ? { properties: { messageExpiryInterval: 100 } } : {});
    await ping(pub);

    const gotOne = await receive(one, new AliasResolver(1), 5);
    assert.deepEqual(gotOne.map((g) => [g.sent, g.alias]), [[x, 1], [y, 1], [x, 1], [y, 1], [x, 1]]);
    for (const c of [three, withId]) {
      const got: Seen[] = [];
      const resolver = new AliasResolver(3);
      for (let i = 0; i < 5; i++) {
        const p = await c.expect(PacketType.PUBLISH);
        got.push(resolver.resolve(p));
        assert.deepEqual(p.properties?.subscriptionIdentifiers, c === withId ? [12] : undefined);
        assert.equal(p.properties?.messageExpiryInterval, i === 3 ? 100 : undefined);
      }
      assert.deepEqual(got.map((g) => [g.sent, g.alias]), [[x, 1], [y, 2], ['', 1], ['', 2], ['', 1]]);
      assert.deepEqual(got.map((g) => [g.topic, g.payload]), sequence);
    }
    for (const [topic, payload] of sequence) {
      const p = await plain.expect(PacketType.PUBLISH);
      assert.deepEqual([p.topic, p.payload.toString(), p.properties?.topicAlias], [topic, payload, undefined]);
    }
    await Promise.all([one, three, withId, plain, pub].map((c) => c.end()));
  });

  test('MQTT.js with topicAliasMaximum 3 gets the right topic for every message of a stream on 8 topics', BOUND, async () => {
    const base = uid('tajs/');
    const topics = Array.from({ length: 8 }, (_, i) => `${base}/t${i}`);
    const c = await js(b.url, 5, { properties: { topicAliasMaximum: 3 } });
    const errors: Error[] = [];
    c.client.on('error', (err) => errors.push(err));
    await within(c.client.subscribeAsync(`${base}/#`, { qos: 1 }), 'SUBACK');
    const pub = await raw(b.port, { protocolVersion: 4 });
    // A fixed mix of runs on one topic, returns to recent topics and jumps to old ones.
    let r = 7;
    const sequence: [string, string][] = [];
    for (let i = 0; i < 120; i++) {
      r = (r * 1103515245 + 12345) % 2147483648;
      const topic = i % 5 === 0 ? sequence[sequence.length - 1]?.[0] ?? topics[0] : topics[(r >> 8) % topics.length];
      sequence.push([topic, `m${i}`]);
    }
    for (const [i, [topic, payload]] of sequence.entries()) pub.publish(topic, payload, (i % 2) as QoS, { packetId: i + 1 });
    const got: [string, string][] = [];
    const aliases: number[] = [];
    for (let i = 0; i < sequence.length; i++) {
      const m = await c.nextMessage();
      got.push([m.topic, m.payload]);
      const alias = m.packet.properties?.topicAlias;
      if (alias !== undefined) aliases.push(alias);
    }
    assert.deepEqual(got, sequence);
    assert.deepEqual(errors, []);
    assert.ok(aliases.length === sequence.length, 'every message came with an alias');
    assert.ok(aliases.every((a) => a >= 1 && a <= 3), `aliases within 1..3: ${[...new Set(aliases)]}`);
    assert.equal(new Set(aliases).size, 3, 'all three numbers used');
    await Promise.all([c.end(), pub.end()]);
  });

  test('aliases start afresh on a new connection: queued and re-sent messages come with their topic again [MQTT-3.3.2-7]', BOUND, async () => {
    const clientId = uid('ta-resume');
    const base = uid('taresume/');
    const [a, bb] = [`${base}/a`, `${base}/b`];
    const connect = { clean: false, clientId };
    const props = { topicAliasMaximum: 2, sessionExpiryInterval: 60 };
    const first = await v5(b.port, props, connect);
    await subscribe(first, `${base}/#`, 1);
    const pub = await raw(b.port, { protocolVersion: 4 });
    pub.publish(a, 'live1', 1, { packetId: 1 });
    pub.publish(a, 'live2', 1, { packetId: 2 });
    const p1 = await first.expect(PacketType.PUBLISH);
    const p2 = await first.expect(PacketType.PUBLISH);
    assert.deepEqual([p1.topic, p1.properties?.topicAlias, p2.topic, p2.properties?.topicAlias], [a, 1, '', 1]);
    // live1 is acknowledged, live2 is not: it is re-sent on the next connection.
    first.send({ type: PacketType.PUBACK, packetId: p1.packetId, reasonCode: 0 });
    first.send({ type: PacketType.DISCONNECT, reasonCode: 0 });
    await within(first.closedPromise, 'the broker to close the link');

    pub.publish(a, 'queued1', 1, { packetId: 3 });
    pub.publish(bb, 'queued2', 1, { packetId: 4 });
    pub.publish(a, 'queued3', 1, { packetId: 5 });
    for (let i = 0; i < 3; i++) await pub.expect(PacketType.PUBACK);

    const back = await v5(b.port, props, connect);
    const resolver = new AliasResolver(2);
    const resent = await back.expect(PacketType.PUBLISH);
    assert.deepEqual([resent.dup, resent.packetId, resent.payload.toString()], [true, p2.packetId, 'live2']);
    assert.deepEqual([resent.topic, resent.properties?.topicAlias], [a, 1], 'the re-sent message carries its topic');
    resolver.resolve(resent);
    back.send({ type: PacketType.PUBACK, packetId: resent.packetId, reasonCode: 0 });
    const got = await receive(back, resolver, 3);
    assert.deepEqual(got.map((g) => [g.sent, g.alias, g.topic, g.payload]), [
      ['', 1, a, 'queued1'], [bb, 2, bb, 'queued2'], ['', 1, a, 'queued3'],
    ]);
    await Promise.all([back.end(), pub.end()]);
  });

  test('a resumed session on a connection without aliases gets full topics', BOUND, async () => {
    const clientId = uid('ta-drop');
    const topic = uid('tadrop/');
    const first = await v5(b.port, { topicAliasMaximum: 5, sessionExpiryInterval: 60 }, { clean: false, clientId });
    await subscribe(first, topic, 1);
    first.send({ type: PacketType.DISCONNECT, reasonCode: 0 });
    await within(first.closedPromise, 'the broker to close the link');
    const pub = await raw(b.port, { protocolVersion: 4 });
    pub.publish(topic, 'q1', 1, { packetId: 1 });
    pub.publish(topic, 'q2', 1, { packetId: 2 });
    for (let i = 0; i < 2; i++) await pub.expect(PacketType.PUBACK);
    const back = await v5(b.port, { sessionExpiryInterval: 60 }, { clean: false, clientId });
    for (const payload of ['q1', 'q2']) {
      const p = await back.expect(PacketType.PUBLISH);
      assert.deepEqual([p.topic, p.payload.toString(), p.properties?.topicAlias], [topic, payload, undefined]);
    }
    await Promise.all([back.end(), pub.end()]);
  });

  test('QoS 1 past the Receive Maximum waits in the queue; as it drains, every alias maps to the right topic', BOUND, async () => {
    const base = uid('tawin/');
    const topics = ['a', 'b', 'c'].map((t) => `${base}/${t}`);
    const s = await v5(b.port, { topicAliasMaximum: 2, receiveMaximum: 2 });
    await subscribe(s, `${base}/#`, 1);
    const pub = await raw(b.port, { protocolVersion: 4 });
    const sequence: [string, string][] = [];
    for (let i = 0; i < 15; i++) sequence.push([topics[[0, 1, 0, 2, 2, 1, 0, 1, 2][i % 9]], `m${i}`]);
    for (const [i, [topic, payload]] of sequence.entries()) pub.publish(topic, payload, 1, { packetId: i + 1 });
    for (let i = 0; i < sequence.length; i++) await pub.expect(PacketType.PUBACK); // all in the broker: 2 in flight, 13 queued
    const resolver = new AliasResolver(2);
    const inflight = [await s.expect(PacketType.PUBLISH), await s.expect(PacketType.PUBLISH)];
    await ping(s); // the window is full: nothing more yet
    const got = inflight.map((p) => resolver.resolve(p));
    while (got.length < sequence.length) {
      const done = inflight.shift()!;
      s.send({ type: PacketType.PUBACK, packetId: done.packetId, reasonCode: 0 });
      const next = await s.expect(PacketType.PUBLISH);
      inflight.push(next);
      got.push(resolver.resolve(next));
    }
    assert.deepEqual(got.map((g) => [g.topic, g.payload]), sequence);
    assert.ok(got.some((g) => g.sent === ''), 'aliases were used');
    await Promise.all([s.end(), pub.end()]);
  });

  test('a message over the client\'s Maximum Packet Size is not sent and leaves no half-known alias [MQTT-3.1.2-25]', BOUND, async () => {
    const base = uid('tabig/');
    const [t, u, w] = ['t', 'u', 'w'].map((x) => `${base}/${x}`);
    const clientId = uid('tabig');
    const s = await v5(b.port, { topicAliasMaximum: 1, maximumPacketSize: 256 }, { clientId });
    await subscribe(s, `${base}/#`, 1);
    const pub = await raw(b.port, { protocolVersion: 4 });
    const big = 'x'.repeat(400);
    // t's first message is too large: the next one on t must still carry its topic.
    // Then u takes the only number, a too large w would take it from u: w's next message, and
    // u's, must carry their topics.
    const sequence: [string, string, QoS][] = [
      [t, big, 1], [t, 't1', 1], [t, 't2', 0], [u, 'u1', 1], [w, big, 0], [w, 'w1', 1], [u, 'u2', 1], [u, big, 1], [u, 'u3', 0],
    ];
    for (const [i, [topic, payload, qos]] of sequence.entries()) pub.publish(topic, payload, qos, { packetId: i + 1 });
    for (const [, , qos] of sequence) if (qos === 1) await pub.expect(PacketType.PUBACK);
    await ping(pub);
    const got = await receive(s, new AliasResolver(1), 6);
    assert.deepEqual(got.map((g) => [g.sent, g.alias, g.payload]), [
      [t, 1, 't1'], ['', 1, 't2'], [u, 1, 'u1'], [w, 1, 'w1'], [u, 1, 'u2'],
      ['', 1, 'u3'], // a too large message on a known alias changes nothing
    ]);
    await ping(s); // the big ones never came
    const session = b.broker.registry.get(clientId);
    assert.equal(session?.dropped.tooLarge, 3);
    assert.equal(session?.inflight.size, 0, 'dropped QoS 1 messages hold no slot');
    await Promise.all([s.end(), pub.end()]);
  });
});

describe('outbound topic aliases turned off (outboundTopicAliases: false)', () => {
  let b: TestBroker;
  before(async () => { b = await startBroker({ sysInterval: 0, outboundTopicAliases: false }); });
  after(() => within(b.close(), 'the broker to close', 5000)); // bounded too

  test('a client allowing 10 aliases gets full topics; its own inbound aliases still work', BOUND, async () => {
    const topic = uid('taoff/');
    const s = await v5(b.port, { topicAliasMaximum: 10 });
    await subscribe(s, topic, 1);
    const pub = await raw(b.port, { protocolVersion: 5 });
    pub.publish(topic, 'one', 1, { packetId: 1, properties: { topicAlias: 1 } });
    pub.publish('', 'two', 1, { packetId: 2, properties: { topicAlias: 1 } });
    pub.publish(topic, 'three', 0);
    for (const payload of ['one', 'two', 'three']) {
      const p = await s.expect(PacketType.PUBLISH);
      assert.deepEqual([p.topic, p.payload.toString(), p.properties?.topicAlias], [topic, payload, undefined]);
      if (p.qos === 1) s.send({ type: PacketType.PUBACK, packetId: p.packetId, reasonCode: 0 });
    }
    await Promise.all([s.end(), pub.end()]);
  });

  test('MQTT.js with topicAliasMaximum set gets plain topics', BOUND, async () => {
    const topic = uid('taoffjs/');
    const c = await js(b.url, 5, { properties: { topicAliasMaximum: 4 } });
    await within(c.client.subscribeAsync(topic, { qos: 0 }), 'SUBACK');
    const pub = await raw(b.port, { protocolVersion: 4 });
    await publishAll(pub, [[topic, '1'], [topic, '2']]);
    for (const payload of ['1', '2']) {
      const m = await c.nextMessage();
      assert.deepEqual([m.topic, m.payload, m.packet.properties?.topicAlias], [topic, payload, undefined]);
    }
    await Promise.all([c.end(), pub.end()]);
  });
});
