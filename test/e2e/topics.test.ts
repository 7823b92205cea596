// Topic matching and subscription semantics end to end: `+` and `#` per section 4.7, `$`
// topics, overlapping and replaced subscriptions, UNSUBSCRIBE, shared subscriptions, and the
// v5 features that ride on a subscription or a PUBLISH (No Local, Subscription Identifiers,
// User Properties, Content Type, inbound Topic Aliases).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PacketType } from '../../src/protocol/index.js';
import { connectClient, RawClient, startBroker, VERSIONS, type TestBroker, uid, drainUntilMarker, type Got } from './harness.js';

/** Every test is bounded, even where a broken broker would leave a client library waiting. */
const BOUND = { timeout: 15_000 };

let b: TestBroker;
before(async () => { b = await startBroker(); });
after(async () => { await b.close(); });




describe('topic filter matching [MQTT-4.7.1-*]', () => {
  // [filter, topic, matches]: mostly the examples of sections 4.7.1.2 and 4.7.1.3.
  const table: [string, string, boolean][] = [
    ['sport/tennis/player1/#', 'sport/tennis/player1', true],
    ['sport/tennis/player1/#', 'sport/tennis/player1/ranking', true],
    ['sport/tennis/player1/#', 'sport/tennis/player1/score/wimbledon', true],
    ['sport/tennis/player1/#', 'sport/tennis/player2', false],
    ['sport/#', 'sport', true],
    ['sport/#', 'sports', false],
    ['#', 'sport/tennis/player1', true],
    ['#', '/', true],
    ['sport/tennis/#', 'sport/tennis', true],
    ['sport/tennis/+', 'sport/tennis/player1', true],
    ['sport/tennis/+', 'sport/tennis/player1/tournament', false],
    ['sport/tennis/+', 'sport/tennis', false],
    ['sport/tennis/+', 'sport/tennis/', true],
    ['sport/+', 'sport', false],
    ['sport/+', 'sport/', true],
    ['+', 'sport', true],
    ['+', 'sport/tennis', false],
    ['+', '/finance', false],
    ['+/+', '/finance', true],
    ['/+', '/finance', true],
    ['+/tennis/#', 'sport/tennis/player1', true],
    ['+/tennis/#', 'sport/tennis', true],
    ['+/tennis/#', 'sport/golf', false],
    ['sport/+/player1', 'sport/tennis/player1', true],
    ['sport/+/player1', 'sport/tennis/player2', false],
    ['a/+/b', 'a//b', true],
    ['a/b', 'a/b', true],
    ['a/b', 'a/bc', false],
    ['a/b', 'a/b/', false],
    ['a/b', 'A/B', false], // case sensitive (4.7.3)
    ['ACCOUNTS', 'Accounts', false],
    ['a b/+', 'a b/c d', true], // spaces are ordinary characters
    ['a/+', 'a/$x', true], // only a leading `$` is special
    ['ünï/+', 'ünï/cödé', true],
  ];
  for (const version of [4, 5] as const) {
    test(`v${version}: ${table.length} filter/topic pairs through the broker`, BOUND, async () => {
      const sub = await connectClient(b.url, version);
      const pub = await connectClient(b.url, version);
      const failures: string[] = [];
      for (const [filter, topic, matches] of table) {
        await sub.client.subscribeAsync(filter, { qos: 1 });
        await pub.client.publishAsync(topic, 'x', { qos: 1 });
        const got = (await drainUntilMarker(sub)).filter((g) => g.topic === topic);
        if (got.length !== (matches ? 1 : 0)) failures.push(`${filter} vs ${topic}: expected ${matches ? 1 : 0}, got ${got.length}`);
        await sub.client.unsubscribeAsync(filter);
      }
      assert.deepEqual(failures, []);
      await Promise.all([sub.end(), pub.end()]);
    });
  }

  test('$SYS-style topics: not matched by `#`, `+/x` or `+/+/x`, matched by `$SYS/#` and `$SYS/+/x` [MQTT-4.7.2-1]', BOUND, async () => {
    const cases: [string, boolean][] = [
      ['#', false], ['+/monitor/Clients', false], ['+/+/Clients', false], ['+/#', false],
      ['$SYS/#', true], ['$SYS/monitor/+', true], ['$SYS/+/Clients', true], ['$SYS/monitor/Clients', true],
    ];
    for (const [filter, matches] of cases) {
      const sub = await connectClient(b.url, 4);
      await sub.client.subscribeAsync(filter, { qos: 0 });
      // The broker's own $SYS-style publication: clients do not usually publish to $ topics.
      b.broker.publish({ topic: '$SYS/monitor/Clients', payload: 'sys' });
      const got = (await drainUntilMarker(sub)).filter((g) => g.topic === '$SYS/monitor/Clients');
      assert.equal(got.length, matches ? 1 : 0, filter);
      await sub.end();
    }
  });
});

describe('subscriptions of one client', () => {
  for (const version of VERSIONS) {
    test(`v${version}: overlapping subscriptions give exactly one copy at the highest granted QoS`, BOUND, async () => {
      const base = uid('ov');
      const sub = await connectClient(b.url, version);
      await sub.client.subscribeAsync(`${base}/#`, { qos: 0 });
      await sub.client.subscribeAsync(`${base}/+`, { qos: 2 });
      await sub.client.subscribeAsync(`${base}/a`, { qos: 1 });
      const pub = await connectClient(b.url, version);
      await pub.client.publishAsync(`${base}/a`, 'one', { qos: 2 });
      await pub.client.publishAsync(`${base}/a/b`, 'deep', { qos: 2 });
      const got = await drainUntilMarker(sub);
      assert.deepEqual(got.map((g) => [g.topic, g.payload, g.qos]), [[`${base}/a`, 'one', 2], [`${base}/a/b`, 'deep', 0]]);
      await Promise.all([sub.end(), pub.end()]);
    });

    test(`v${version}: a SUBSCRIBE to an existing filter replaces it [MQTT-3.8.4-3]`, BOUND, async () => {
      const topic = uid('rep/');
      const sub = await connectClient(b.url, version);
      const pub = await connectClient(b.url, version);
      await sub.client.subscribeAsync(topic, { qos: 0 });
      await pub.client.publishAsync(topic, 'at0', { qos: 2 });
      await sub.client.subscribeAsync(topic, { qos: 2 });
      await pub.client.publishAsync(topic, 'at2', { qos: 2 });
      await sub.client.subscribeAsync(topic, { qos: 1 });
      await pub.client.publishAsync(topic, 'at1', { qos: 2 });
      const got = await drainUntilMarker(sub);
      assert.deepEqual(got.map((g) => [g.payload, g.qos]), [['at0', 0], ['at2', 2], ['at1', 1]]);
      await Promise.all([sub.end(), pub.end()]);
    });

    test(`v${version}: messages stop after UNSUBSCRIBE`, BOUND, async () => {
      const topic = uid('unsub/');
      const sub = await connectClient(b.url, version);
      const pub = await connectClient(b.url, version);
      await sub.client.subscribeAsync(topic, { qos: 1 });
      await pub.client.publishAsync(topic, 'before', { qos: 1 });
      assert.equal((await sub.nextMessage()).payload, 'before');
      await sub.client.unsubscribeAsync(topic);
      await pub.client.publishAsync(topic, 'after', { qos: 1 });
      assert.deepEqual(await drainUntilMarker(sub), []);
      await Promise.all([sub.end(), pub.end()]);
    });
  }

  test('v5 UNSUBACK: a reason code per filter, 0x00 and 0x11 No subscription existed', BOUND, async () => {
    const c = await RawClient.connect(b.port, { protocolVersion: 5 });
    await c.subscribe('unsub5/a', 1);
    c.send({ type: PacketType.UNSUBSCRIBE, packetId: 9, filters: ['unsub5/a', 'unsub5/never', 'unsub5/a'] });
    const ack = await c.expect(PacketType.UNSUBACK);
    assert.equal(ack.packetId, 9);
    assert.deepEqual(ack.reasonCodes, [0x00, 0x11, 0x11]);
    await c.end();
  });

  test('3.1.1 UNSUBACK carries the packet id, also for a filter never subscribed [MQTT-3.10.4-4] [MQTT-3.10.4-5]', BOUND, async () => {
    const c = await RawClient.connect(b.port, { protocolVersion: 4 });
    await c.subscribe('unsub4/a', 1);
    c.send({ type: PacketType.UNSUBSCRIBE, packetId: 300, filters: ['unsub4/a'] });
    assert.equal((await c.expect(PacketType.UNSUBACK)).packetId, 300);
    c.send({ type: PacketType.UNSUBSCRIBE, packetId: 301, filters: ['unsub4/none'] });
    assert.equal((await c.expect(PacketType.UNSUBACK)).packetId, 301);
    // Nothing is delivered for the removed subscription.
    c.publish('unsub4/a', 'self', 0);
    c.send({ type: PacketType.PINGREQ });
    await c.expect(PacketType.PINGRESP);
    await c.end();
  });
});

describe('shared subscriptions', () => {
  test('three members of `$share/g/t`: each message to exactly one member, round robin', BOUND, async () => {
    const topic = uid('sh/');
    const members = await Promise.all([0, 1, 2].map(() => connectClient(b.url, 5)));
    for (const m of members) await m.client.subscribeAsync(`$share/g/${topic}`, { qos: 1 });
    const pub = await connectClient(b.url, 5);
    const n = 9;
    for (let i = 0; i < n; i++) await pub.client.publishAsync(topic, `m${i}`, { qos: 1 });
    const got = await Promise.all(members.map((m) => drainUntilMarker(m)));
    const counts = got.map((g) => g.length);
    assert.deepEqual(counts, [3, 3, 3], `even distribution, got ${counts}`);
    const all = got.flat().map((g) => g.payload).sort();
    assert.deepEqual(all, Array.from({ length: n }, (_, i) => `m${i}`).sort(), 'each message exactly once');
    // Round robin: a member's messages are every third one.
    for (const g of got) {
      const idx = g.map((x) => Number(x.payload.slice(1)));
      assert.deepEqual([idx[1] - idx[0], idx[2] - idx[1]], [3, 3], `member got ${idx}`);
    }
    await Promise.all([...members, pub].map((c) => c.end()));
  });

  test('two groups on the same filter each get a copy; a plain subscriber too', BOUND, async () => {
    const topic = uid('sh2/');
    const g1 = await connectClient(b.url, 5);
    await g1.client.subscribeAsync(`$share/one/${topic}`, { qos: 1 });
    const g2 = await Promise.all([0, 1].map(() => connectClient(b.url, 5)));
    for (const m of g2) await m.client.subscribeAsync(`$share/two/${topic}`, { qos: 1 });
    const plain = await connectClient(b.url, 4);
    await plain.client.subscribeAsync(topic, { qos: 1 });
    const pub = await connectClient(b.url, 5);
    for (let i = 0; i < 4; i++) await pub.client.publishAsync(topic, `m${i}`, { qos: 1 });
    assert.equal((await drainUntilMarker(g1)).length, 4);
    const two = await Promise.all(g2.map((m) => drainUntilMarker(m)));
    assert.deepEqual(two.map((g) => g.length), [2, 2]);
    assert.equal((await drainUntilMarker(plain)).length, 4);
    await Promise.all([g1, ...g2, plain, pub].map((c) => c.end()));
  });

  test('a member that unsubscribes gets no more; the rest share the load', BOUND, async () => {
    const topic = uid('sh3/');
    const members = await Promise.all([0, 1].map(() => connectClient(b.url, 5)));
    for (const m of members) await m.client.subscribeAsync(`$share/g/${topic}`, { qos: 0 });
    await members[0].client.unsubscribeAsync(`$share/g/${topic}`);
    const pub = await connectClient(b.url, 5);
    for (let i = 0; i < 3; i++) await pub.client.publishAsync(topic, `m${i}`, { qos: 1 });
    assert.equal((await drainUntilMarker(members[0])).length, 0);
    assert.equal((await drainUntilMarker(members[1])).length, 3);
    await Promise.all([...members, pub].map((c) => c.end()));
  });
});

describe('v5 subscription and publish features', () => {
  test('No Local: a publisher subscribed with noLocal does not get its own messages [MQTT-3.8.3-3]', BOUND, async () => {
    const topic = uid('nl/');
    const self = await connectClient(b.url, 5);
    await self.client.subscribeAsync(topic, { qos: 1, nl: true });
    const other = await connectClient(b.url, 5);
    await other.client.subscribeAsync(topic, { qos: 1 });
    await self.client.publishAsync(topic, 'mine', { qos: 1 });
    assert.equal((await other.nextMessage()).payload, 'mine');
    assert.deepEqual(await drainUntilMarker(self), []);
    // Messages from others still arrive.
    await other.client.publishAsync(topic, 'theirs', { qos: 1 });
    assert.deepEqual((await drainUntilMarker(self)).map((g) => g.payload), ['theirs']);
    // Without No Local, a client gets its own message.
    await other.client.publishAsync(topic, 'echo', { qos: 1 });
    assert.deepEqual((await drainUntilMarker(other)).map((g) => g.payload), ['theirs', 'echo']);
    await Promise.all([self.end(), other.end()]);
  });

  test('Subscription Identifiers: delivered with matching messages; overlapping subscriptions give one copy with both', BOUND, async () => {
    const base = uid('sid');
    const sub = await connectClient(b.url, 5);
    await sub.client.subscribeAsync(`${base}/+`, { qos: 1, properties: { subscriptionIdentifier: 5 } });
    await sub.client.subscribeAsync(`${base}/#`, { qos: 1, properties: { subscriptionIdentifier: 268435455 } });
    await sub.client.subscribeAsync(`${base}/none/x`, { qos: 1 }); // no identifier
    const pub = await connectClient(b.url, 5);
    await pub.client.publishAsync(`${base}/a`, 'both', { qos: 1 });
    await pub.client.publishAsync(`${base}/a/b`, 'hash', { qos: 1 });
    await pub.client.publishAsync(`${base}/none/x`, 'hash and none', { qos: 1 });
    const got = await drainUntilMarker(sub);
    const ids = (g: Got): number[] => {
      const v = g.packet.properties?.subscriptionIdentifier as number | number[] | undefined;
      return v === undefined ? [] : (Array.isArray(v) ? v : [v]).sort((x, y) => x - y);
    };
    assert.deepEqual(got.map((g) => [g.payload, ids(g)]), [['both', [5, 268435455]], ['hash', [268435455]], ['hash and none', [268435455]]]);
    await Promise.all([sub.end(), pub.end()]);
  });

  test('a 3.1.1 subscriber of the same message gets no v5 properties', BOUND, async () => {
    const topic = uid('v4props/');
    const sub = await RawClient.connect(b.port, { protocolVersion: 4 });
    await sub.subscribe(topic, 1);
    const pub = await connectClient(b.url, 5);
    await pub.client.publishAsync(topic, 'p', { qos: 1, properties: { contentType: 'text/plain', userProperties: { a: 'b' } } });
    const p = await sub.expect(PacketType.PUBLISH);
    assert.equal(p.properties, undefined);
    assert.equal(p.payload.toString(), 'p');
    await Promise.all([sub.end(), pub.end()]);
  });

  test('User Properties, Content Type, Response Topic, Correlation Data forwarded unchanged [MQTT-3.3.2-17] [MQTT-3.3.2-18]', BOUND, async () => {
    const topic = uid('props/');
    const sub = await connectClient(b.url, 5);
    await sub.client.subscribeAsync(topic, { qos: 1 });
    const pub = await connectClient(b.url, 5);
    await pub.client.publishAsync(topic, 'body', {
      qos: 1,
      properties: {
        contentType: 'application/cbor', userProperties: { trace: 'abc', tag: ['x', 'y'] },
        responseTopic: 'reply/to', correlationData: Buffer.from('corr'), payloadFormatIndicator: false,
      },
    });
    const p = (await sub.nextMessage()).packet.properties ?? {};
    assert.equal(p.contentType, 'application/cbor');
    assert.deepEqual({ ...p.userProperties }, { trace: 'abc', tag: ['x', 'y'] });
    assert.equal(p.responseTopic, 'reply/to');
    assert.equal(Buffer.from(p.correlationData!).toString(), 'corr');
    await Promise.all([sub.end(), pub.end()]);
  });

  test('User Property order and repeated keys kept exactly (raw packets)', BOUND, async () => {
    const topic = uid('uprops/');
    const sub = await RawClient.connect(b.port, { protocolVersion: 5 });
    await sub.subscribe(topic, 0);
    const pub = await RawClient.connect(b.port, { protocolVersion: 5 });
    const userProperties: [string, string][] = [['z', '1'], ['a', '2'], ['z', '3'], ['', ''], ['ключ', 'значение']];
    pub.publish(topic, 'x', 0, { properties: { userProperties, contentType: 'ct' } });
    const p = await sub.expect(PacketType.PUBLISH);
    assert.deepEqual(p.properties?.userProperties, userProperties);
    assert.equal(p.properties?.contentType, 'ct');
    await Promise.all([sub.end(), pub.end()]);
  });

  test('inbound Topic Alias: alias + topic, then alias only, is delivered with the full topic', BOUND, async () => {
    const topic = uid('alias/');
    const other = uid('alias/');
    const sub = await connectClient(b.url, 5);
    await sub.client.subscribeAsync(`${topic}`, { qos: 1 });
    await sub.client.subscribeAsync(`${other}`, { qos: 1 });
    const pub = await RawClient.connect(b.port, { protocolVersion: 5 });
    pub.publish(topic, 'one', 1, { packetId: 1, properties: { topicAlias: 3 } });
    pub.publish('', 'two', 1, { packetId: 2, properties: { topicAlias: 3 } });
    // An alias can be remapped [MQTT-3.3.2-12] (3.3.2.3.4).
    pub.publish(other, 'three', 1, { packetId: 3, properties: { topicAlias: 3 } });
    pub.publish('', 'four', 1, { packetId: 4, properties: { topicAlias: 3 } });
    for (let i = 1; i <= 4; i++) assert.equal((await pub.expect(PacketType.PUBACK)).packetId, i);
    const got = [await sub.nextMessage(), await sub.nextMessage(), await sub.nextMessage(), await sub.nextMessage()];
    assert.deepEqual(got.map((m) => [m.topic, m.payload]), [[topic, 'one'], [topic, 'two'], [other, 'three'], [other, 'four']]);
    // The alias is not forwarded to subscribers.
    assert.ok(got.every((m) => m.packet.properties?.topicAlias === undefined));
    await Promise.all([sub.end(), pub.end()]);
  });

  test('Topic Alias above the Topic Alias Maximum → DISCONNECT 0x94 [MQTT-3.3.2-9]', BOUND, async () => {
    const pub = await RawClient.connect(b.port, { protocolVersion: 5 });
    pub.publish('alias/high', 'x', 0, { properties: { topicAlias: 11 } }); // the broker advertises 10
    assert.equal((await pub.expect(PacketType.DISCONNECT)).reasonCode, 0x94);
    await pub.expectClose();
  });

  test('unknown Topic Alias with an empty topic → DISCONNECT 0x82', BOUND, async () => {
    const pub = await RawClient.connect(b.port, { protocolVersion: 5 });
    pub.publish('', 'x', 1, { packetId: 1, properties: { topicAlias: 4 } });
    assert.equal((await pub.expect(PacketType.DISCONNECT)).reasonCode, 0x82);
    await pub.expectClose();
  });

  test('Topic Aliases are per connection: a new connection does not know the old aliases [MQTT-3.3.2-7]', BOUND, async () => {
    const clientId = uid('alias-conn');
    const first = await RawClient.connect(b.port, { protocolVersion: 5, clientId });
    first.publish('alias/per-conn', 'x', 1, { packetId: 1, properties: { topicAlias: 2 } });
    await first.expect(PacketType.PUBACK);
    first.send({ type: PacketType.DISCONNECT, reasonCode: 0 });
    await first.expectClose();
    const second = await RawClient.connect(b.port, { protocolVersion: 5, clientId });
    second.publish('', 'y', 1, { packetId: 1, properties: { topicAlias: 2 } });
    assert.equal((await second.expect(PacketType.DISCONNECT)).reasonCode, 0x82);
    await second.expectClose();
  });
});
