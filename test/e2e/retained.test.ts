// Retained messages end to end: one per topic, delivered to new subscribers at the smaller QoS
// with RETAIN=1, cleared by an empty payload, matched by wildcards (not `$` topics at the first
// level), RETAIN=0 on live deliveries, and the v5 subscription options Retain As Published and
// Retain Handling; shared subscriptions get none.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PacketType } from '../../src/protocol/index.js';
import { connectClient, RawClient, startBroker, VERSIONS, type TestBroker, uid, drainUntilMarker } from './harness.js';

/** The retained-relevant fields of what arrived before the marker, for whole-record comparisons. */
const drain = async (c: Parameters<typeof drainUntilMarker>[0]) =>
  (await drainUntilMarker(c)).map(({ topic, payload, qos, retain }) => ({ topic, payload, qos, retain }));

/** Every test is bounded, even where a broken broker would leave a client library waiting. */
const BOUND = { timeout: 15_000 };

let b: TestBroker;
before(async () => { b = await startBroker(); });
after(async () => { await b.close(); });



/**
 * Everything the client receives before a marker it publishes to itself: the broker handles
 * its packets in order and writes to its socket in order, so what a SUBSCRIBE owes it
 * (retained messages included) arrives before the marker.
 */

/** Publishes retained messages from a short-lived client, waiting for each to be handled. */
async function retain(version: 3 | 4 | 5, entries: [topic: string, payload: string, qos?: 0 | 1 | 2][]): Promise<void> {
  const pub = await connectClient(b.url, version);
  // QoS 1 acknowledgement (or the ping of a QoS 0 publish's end) means the broker stored it.
  for (const [topic, payload, qos = 1] of entries) await pub.client.publishAsync(topic, payload, { qos, retain: true });
  if (entries.some(([, , q]) => q === 0)) await drain(pub);
  await pub.end();
}

async function clear(topics: string[]): Promise<void> {
  await retain(4, topics.map((t) => [t, '', 1]));
}

type Seen = Awaited<ReturnType<typeof drain>>;
const sorted = (g: Seen): Seen => [...g].sort((x, y) => (x.topic < y.topic ? -1 : x.topic > y.topic ? 1 : 0));

describe('retained messages', () => {
  for (const version of VERSIONS) {
    test(`v${version}: only the last retained message per topic is kept [MQTT-3.3.1-5]`, BOUND, async () => {
      const topic = uid('ret/last/');
      await retain(version, [[topic, 'first'], [topic, 'second'], [topic, 'third']]);
      const sub = await connectClient(b.url, version);
      await sub.client.subscribeAsync(topic, { qos: 1 });
      assert.deepEqual(await drain(sub), [{ topic, payload: 'third', qos: 1, retain: true }]);
      await sub.end();
      await clear([topic]);
    });

    test(`v${version}: a new subscriber gets it at min(published, granted) QoS with RETAIN=1 [MQTT-3.3.1-6] [MQTT-3.3.1-8]`, BOUND, async () => {
      const base = uid('ret/qos/');
      const topics = [0, 1, 2].map((q) => `${base}/p${q}`);
      await retain(version, [[topics[0], 'p0', 0], [topics[1], 'p1', 1], [topics[2], 'p2', 2]]);
      for (const granted of [0, 1, 2] as const) {
        const sub = await connectClient(b.url, version);
        await sub.client.subscribeAsync(`${base}/+`, { qos: granted });
        const got = sorted(await drain(sub));
        assert.deepEqual(got, [0, 1, 2].map((q) => ({ topic: topics[q], payload: `p${q}`, qos: Math.min(q, granted), retain: true })),
          `granted QoS ${granted}`);
        await sub.end();
      }
      await clear(topics);
    });

    test(`v${version}: an empty retained payload clears the topic [MQTT-3.3.1-10] [MQTT-3.3.1-11]`, BOUND, async () => {
      const topic = uid('ret/clear/');
      await retain(version, [[topic, 'will be cleared']]);
      // The empty retained message itself is delivered to current subscribers as a normal message.
      const live = await connectClient(b.url, version);
      await live.client.subscribeAsync(topic, { qos: 1 });
      assert.deepEqual(await drain(live), [{ topic, payload: 'will be cleared', qos: 1, retain: true }]);
      await retain(version, [[topic, '']]);
      const m = await live.nextMessage();
      assert.deepEqual([m.topic, m.payload, m.packet.retain], [topic, '', false]);
      const later = await connectClient(b.url, version);
      await later.client.subscribeAsync(topic, { qos: 1 });
      assert.deepEqual(await drain(later), [], 'nothing retained after the empty payload');
      await Promise.all([live.end(), later.end()]);
    });

    test(`v${version}: live deliveries to existing subscribers have RETAIN=0 [MQTT-3.3.1-9]`, BOUND, async () => {
      const topic = uid('ret/live/');
      const sub = await connectClient(b.url, version);
      await sub.client.subscribeAsync(topic, { qos: 1 });
      await retain(version, [[topic, 'live']]);
      const m = await sub.nextMessage();
      assert.equal(m.payload, 'live');
      assert.equal(m.packet.retain, false);
      await sub.end();
      await clear([topic]);
    });
  }

  test('wildcards: `+`, `#`, and `a/#` matching `a` itself', BOUND, async () => {
    const a = uid('retw');
    const entries: [string, string][] = [[a, 'root'], [`${a}/x`, 'x'], [`${a}/y`, 'y'], [`${a}/x/deep`, 'deep'], [`${a}/y/deep`, 'ydeep']];
    await retain(4, entries);
    const cases: [string, string[]][] = [
      [`${a}/#`, [a, `${a}/x`, `${a}/x/deep`, `${a}/y`, `${a}/y/deep`]],
      [`${a}/+`, [`${a}/x`, `${a}/y`]],
      [`${a}/+/deep`, [`${a}/x/deep`, `${a}/y/deep`]],
      [`${a}/x/#`, [`${a}/x`, `${a}/x/deep`]],
      [`+/x`, [`${a}/x`]],
      [a, [a]],
      [`${a}/z/#`, []],
    ];
    for (const [filter, expected] of cases) {
      const sub = await connectClient(b.url, 4);
      await sub.client.subscribeAsync(filter, { qos: 0 });
      const got = (await drain(sub)).filter((g) => g.topic === a || g.topic.startsWith(`${a}/`));
      assert.deepEqual(got.map((g) => g.topic).sort(), expected.sort(), `filter ${filter}`);
      assert.ok(got.every((g) => g.retain), `filter ${filter}: RETAIN=1`);
      await sub.end();
    }
    await clear(entries.map(([t]) => t));
  });

  test('`$` topics are not matched by `#` or `+` at the first level [MQTT-4.7.2-1]', BOUND, async () => {
    const dollar = uid('$ret');
    b.broker.publish({ topic: `${dollar}/status`, payload: 'dollar', retain: true, qos: 1 });
    const plain = uid('retd');
    await retain(4, [[`${plain}/status`, 'plain']]);
    for (const filter of ['#', '+/status', '+/+']) {
      const sub = await connectClient(b.url, 4);
      await sub.client.subscribeAsync(filter, { qos: 0 });
      const got = await drain(sub);
      assert.ok(!got.some((g) => g.topic.startsWith('$')), `${filter} must not match a $ topic: ${JSON.stringify(got)}`);
      if (filter !== '+/+') assert.ok(got.some((g) => g.topic === `${plain}/status`), `${filter} matches ${plain}/status`);
      await sub.end();
    }
    for (const filter of [`${dollar}/#`, `${dollar}/+`, `${dollar}/status`]) {
      const sub = await connectClient(b.url, 4);
      await sub.client.subscribeAsync(filter, { qos: 0 });
      assert.deepEqual(await drain(sub), [{ topic: `${dollar}/status`, payload: 'dollar', qos: 0, retain: true }], filter);
      await sub.end();
    }
    b.broker.publish({ topic: `${dollar}/status`, payload: '', retain: true });
    await clear([`${plain}/status`]);
  });

  test('a raw subscriber sees exactly the retained PUBLISH, then the ping answer', BOUND, async () => {
    const topic = uid('ret/raw/');
    await retain(4, [[topic, 'raw']]);
    const sub = await RawClient.connect(b.port);
    assert.deepEqual(await sub.subscribe(topic, 2), [2]);
    const p = await sub.expect(PacketType.PUBLISH);
    assert.deepEqual([p.topic, p.payload.toString(), p.qos, p.retain, p.dup], [topic, 'raw', 1, true, false]);
    sub.send({ type: PacketType.PUBACK, packetId: p.packetId, reasonCode: 0 });
    sub.send({ type: PacketType.PINGREQ });
    await sub.expect(PacketType.PINGRESP);
    await sub.end();
    await clear([topic]);
  });
});

describe('v5 retain options', () => {
  test('Retain As Published keeps RETAIN=1 on live deliveries; without it RETAIN=0', BOUND, async () => {
    const topic = uid('rap/');
    const withRap = await connectClient(b.url, 5);
    await withRap.client.subscribeAsync(topic, { qos: 1, rap: true });
    const without = await connectClient(b.url, 5);
    await without.client.subscribeAsync(topic, { qos: 1, rap: false });
    await retain(5, [[topic, 'flagged']]);
    const a = await withRap.nextMessage();
    const c = await without.nextMessage();
    assert.equal(a.packet.retain, true);
    assert.equal(c.packet.retain, false);
    // A non-retained message stays RETAIN=0 even with Retain As Published.
    const pub = await connectClient(b.url, 5);
    await pub.client.publishAsync(topic, 'plain', { qos: 1, retain: false });
    assert.equal((await withRap.nextMessage()).packet.retain, false);
    await Promise.all([withRap.end(), without.end(), pub.end()]);
    await clear([topic]);
  });

  test('Retain Handling 0: retained messages at every subscribe, also a re-subscribe', BOUND, async () => {
    const topic = uid('rh0/');
    await retain(5, [[topic, 'rh0']]);
    const sub = await connectClient(b.url, 5);
    await sub.client.subscribeAsync(topic, { qos: 1, rh: 0 });
    assert.deepEqual((await drain(sub)).map((g) => g.payload), ['rh0']);
    await sub.client.subscribeAsync(topic, { qos: 1, rh: 0 });
    assert.deepEqual((await drain(sub)).map((g) => g.payload), ['rh0']);
    await sub.end();
    await clear([topic]);
  });

  test('Retain Handling 1: only for a new subscription; re-subscribing gets none', BOUND, async () => {
    const topic = uid('rh1/');
    await retain(5, [[topic, 'rh1']]);
    const sub = await connectClient(b.url, 5);
    await sub.client.subscribeAsync(topic, { qos: 1, rh: 1 });
    assert.deepEqual((await drain(sub)).map((g) => g.payload), ['rh1']);
    await sub.client.subscribeAsync(topic, { qos: 1, rh: 1 });
    assert.deepEqual(await drain(sub), [], 're-subscribe with Retain Handling 1');
    // After an unsubscribe it is new again.
    await sub.client.unsubscribeAsync(topic);
    await sub.client.subscribeAsync(topic, { qos: 1, rh: 1 });
    assert.deepEqual((await drain(sub)).map((g) => g.payload), ['rh1']);
    await sub.end();
    await clear([topic]);
  });

  test('Retain Handling 2: never, but live messages still arrive', BOUND, async () => {
    const topic = uid('rh2/');
    await retain(5, [[topic, 'rh2']]);
    const sub = await connectClient(b.url, 5);
    await sub.client.subscribeAsync(topic, { qos: 1, rh: 2 });
    assert.deepEqual(await drain(sub), []);
    await retain(5, [[topic, 'rh2 live']]);
    assert.equal((await sub.nextMessage()).payload, 'rh2 live');
    await sub.end();
    await clear([topic]);
  });

  test('shared subscriptions get no retained messages (4.8.2)', BOUND, async () => {
    const topic = uid('rshare/');
    await retain(5, [[topic, 'not for groups']]);
    const member = await connectClient(b.url, 5);
    await member.client.subscribeAsync(`$share/g/${topic}`, { qos: 1 });
    assert.deepEqual(await drain(member), []);
    // It does get live messages through the group.
    await retain(5, [[topic, 'live to group']]);
    assert.equal((await member.nextMessage()).payload, 'live to group');
    await member.end();
    await clear([topic]);
  });

  test('retained messages carry the subscription identifier of the new subscription', BOUND, async () => {
    const topic = uid('rsid/');
    await retain(5, [[topic, 'with id']]);
    const sub = await connectClient(b.url, 5);
    await sub.client.subscribeAsync(topic, { qos: 1, properties: { subscriptionIdentifier: 42 } });
    const m = await sub.nextMessage();
    assert.equal(m.packet.retain, true);
    assert.equal(m.packet.properties?.subscriptionIdentifier, 42);
    await sub.end();
    await clear([topic]);
  });
});
