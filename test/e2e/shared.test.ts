// Shared subscriptions `$share/{group}/{filter}` end to end (v5 section 4.8.2): accepted from
// v5 and 3.1.1 clients, one member of each group per message, every strategy of the broker
// option sharedSubscriptionStrategy, members passed over while congested or offline, the
// member's granted QoS, no retained messages, No Local refused, a shared plus a plain copy, and
// the hand-off of a leaving member's unfinished messages to the rest of its group.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Broker } from '../../src/index.js';
import type { Connection } from '../../src/broker/connection.js';
import { encode, PacketType, type ConnackPacket, type ConnectPacket, type PublishPacket } from '../../src/protocol/index.js';
import { connectClient, RawClient, startBroker, within, type TestBroker, type TestClient, uid, drainUntilMarker, type Got } from './harness.js';

/** Every test is bounded, even where a broken broker would leave a client library waiting. */
const BOUND = { timeout: 15_000 };




/**
 * The PUBLISH packets a raw client has been sent so far: a PINGREQ goes out and everything
 * before its PINGRESP is taken. Anything but PUBLISH fails. Nothing is acknowledged.
 */
async function collect(c: RawClient): Promise<PublishPacket[]> {
  c.send({ type: PacketType.PINGREQ });
  const out: PublishPacket[] = [];
  for (;;) {
    const p = await c.next('PUBLISH or PINGRESP');
    if (p.type === PacketType.PINGRESP) return out;
    if (p.type !== PacketType.PUBLISH) throw new Error(`expected PUBLISH or PINGRESP, got packet type ${p.type}`);
    out.push(p);
  }
}

/** Opens a raw connection and returns it with its CONNACK (for Session Present). */
async function rawConnect(port: number, connect: Partial<ConnectPacket> & { protocolVersion: 4 | 5 }): Promise<[RawClient, ConnackPacket]> {
  const c = await RawClient.open(port, connect.protocolVersion);
  c.send({ type: PacketType.CONNECT, clean: true, keepAlive: 0, clientId: uid('raw'), ...connect });
  const connack = await c.expect(PacketType.CONNACK);
  assert.equal(connack.reasonCode, 0, 'CONNACK accepted');
  return [c, connack];
}

/** Resolves when the broker has finished with the link of this client id (its hand-off done). */
function gone(broker: Broker, clientId: string): Promise<void> {
  let listener: ((conn: Connection) => void) | undefined;
  return within(new Promise<void>((resolve) => {
    listener = (conn) => {
      if (conn.clientId === clientId) resolve();
    };
    broker.on('clientDisconnect', listener);
  }), `the broker to drop ${clientId}`).finally(() => broker.off('clientDisconnect', listener!));
}

const payloads = (list: { payload: Buffer | string }[]): string[] => list.map((p) => p.payload.toString());
const sorted = (list: string[]): string[] => [...list].sort();

/** Each of `expected` exactly once across all members' completed deliveries. */
function assertExactlyOnce(perMember: string[][], expected: string[]): void {
  assert.deepEqual(sorted(perMember.flat()), sorted(expected), `each message to exactly one member: ${JSON.stringify(perMember)}`);
}

/** Member index that got each message `m{i}`, from what every member received. */
function assignment(perMember: Got[][], n: number, prefix = 'm'): number[] {
  const who = new Array<number>(n).fill(-1);
  perMember.forEach((got, member) => {
    for (const g of got) {
      const i = Number(g.payload.slice(prefix.length));
      assert.equal(who[i], -1, `message ${g.payload} delivered twice`);
      who[i] = member;
    }
  });
  assert.ok(who.every((m) => m !== -1), `every message delivered: ${who}`);
  return who;
}

describe('shared subscriptions, round-robin (the default)', () => {
  let b: TestBroker;
  before(async () => { b = await startBroker(); });
  after(async () => { await b.close(); });

  test('accepted from v5 and 3.1.1 clients: granted QoS in SUBACK, one mixed group, each message once', BOUND, async () => {
    const topic = uid('sh-acc/');
    const v5 = await connectClient(b.url, 5);
    const v4 = await connectClient(b.url, 4);
    const g5 = await v5.client.subscribeAsync(`$share/mixed/${topic}`, { qos: 1 });
    const g4 = await v4.client.subscribeAsync(`$share/mixed/${topic}`, { qos: 2 });
    assert.deepEqual([g5[0].qos, g4[0].qos], [1, 2], 'granted QoS, not a failure code');
    // A raw 3.1.1 SUBACK, not what MQTT.js makes of it.
    const raw = await RawClient.connect(b.port, { protocolVersion: 4 });
    assert.deepEqual(await raw.subscribe(`$share/other/${topic}`, 1), [1]);
    const pub = await connectClient(b.url, 5);
    for (let i = 0; i < 6; i++) await pub.client.publishAsync(topic, `m${i}`, { qos: 1 });
    const got = [await drainUntilMarker(v5), await drainUntilMarker(v4)];
    assert.deepEqual(got.map((g) => g.length), [3, 3]);
    assignment(got, 6);
    // The other group, of one 3.1.1 member, gets every message.
    const rawGot = await collect(raw);
    assert.deepEqual(payloads(rawGot), ['m0', 'm1', 'm2', 'm3', 'm4', 'm5']);
    for (const p of rawGot) raw.send({ type: PacketType.PUBACK, packetId: p.packetId, reasonCode: 0 });
    await Promise.all([v5.end(), v4.end(), pub.end(), raw.end()]);
  });

  test('strict rotation among connected members; an offline member is passed over, not queued for', BOUND, async () => {
    const topic = uid('sh-rr/');
    const filter = `$share/rr/${topic}`;
    const a = await connectClient(b.url, 5);
    const bb = await connectClient(b.url, 4);
    const cId = uid('rr-offline');
    let c = await connectClient(b.url, 4, { clientId: cId, clean: false });
    for (const m of [a, bb, c]) await m.client.subscribeAsync(filter, { qos: 1 });
    const left = gone(b.broker, cId);
    await c.end();
    await left;
    const pub = await connectClient(b.url, 5);
    for (let i = 0; i < 8; i++) await pub.client.publishAsync(topic, `m${i}`, { qos: 1 });
    const first = [await drainUntilMarker(a), await drainUntilMarker(bb)];
    const who = assignment(first, 8);
    for (let i = 1; i < 8; i++) assert.notEqual(who[i], who[i - 1], `strict alternation between the two online members: ${who}`);
    // Back online: nothing was queued for it while the others were ready.
    c = await connectClient(b.url, 4, { clientId: cId, clean: false });
    assert.deepEqual(await drainUntilMarker(c), []);
    // Now three in turn: every member gets every third message.
    for (let i = 0; i < 9; i++) await pub.client.publishAsync(topic, `m${i}`, { qos: 1 });
    const second = [await drainUntilMarker(a), await drainUntilMarker(bb), await drainUntilMarker(c)];
    const who3 = assignment(second, 9);
    for (let i = 3; i < 9; i++) assert.equal(who3[i], who3[i - 3], `rotation of three: ${who3}`);
    assert.equal(new Set(who3.slice(0, 3)).size, 3, `rotation of three: ${who3}`);
    await Promise.all([a, bb, c, pub].map((x) => x.end()));
  });

  test("the member's granted QoS decides the QoS it gets the message at", BOUND, async () => {
    const topic = uid('sh-qos/');
    const filter = `$share/q/${topic}`;
    const grants = [0, 1, 2] as const;
    const members = [await connectClient(b.url, 5), await connectClient(b.url, 4), await connectClient(b.url, 5)];
    for (let i = 0; i < 3; i++) await members[i].client.subscribeAsync(filter, { qos: grants[i] });
    const pub = await connectClient(b.url, 5);
    // Three messages at each QoS: round robin gives each member one of each.
    for (const qos of [2, 1, 0] as const) {
      for (let i = 0; i < 3; i++) await pub.client.publishAsync(topic, `q${qos}-${i}`, { qos });
    }
    const got = await Promise.all(members.map((m) => drainUntilMarker(m)));
    assert.deepEqual(got.map((g) => g.length), [3, 3, 3]);
    assertExactlyOnce(got.map((g) => g.map((x) => x.payload)), ['q2-0', 'q2-1', 'q2-2', 'q1-0', 'q1-1', 'q1-2', 'q0-0', 'q0-1', 'q0-2']);
    got.forEach((g, m) => {
      for (const x of g) {
        const published = Number(x.payload[1]);
        assert.equal(x.qos, Math.min(published, grants[m]), `${x.payload} to the member granted QoS ${grants[m]}`);
      }
      assert.deepEqual(sorted(g.map((x) => x.payload[1])), ['0', '1', '2'], 'one message of each QoS per member');
    });
    await Promise.all([...members, pub].map((x) => x.end()));
  });

  test('no retained messages on subscribing to a shared filter (4.8.2)', BOUND, async () => {
    const topic = uid('sh-ret/');
    const pub = await connectClient(b.url, 5);
    await pub.client.publishAsync(topic, 'kept', { qos: 1, retain: true });
    for (const version of [4, 5] as const) {
      const member = await connectClient(b.url, version);
      await member.client.subscribeAsync(`$share/r${version}/${topic}`, { qos: 1 });
      await member.client.subscribeAsync(`$share/w${version}/${topic.split('/')[0]}/#`, { qos: 1 });
      assert.deepEqual(await drainUntilMarker(member), [], `v${version} shared member`);
      await member.end();
    }
    // The retained message is there: a plain subscription gets it.
    const plain = await connectClient(b.url, 5);
    await plain.client.subscribeAsync(topic, { qos: 1 });
    assert.deepEqual((await drainUntilMarker(plain)).map((g) => [g.payload, g.packet.retain]), [['kept', true]]);
    await pub.client.publishAsync(topic, '', { qos: 1, retain: true });
    await Promise.all([plain.end(), pub.end()]);
  });

  test('No Local on a shared subscription → DISCONNECT 0x82 Protocol Error [MQTT-3.8.3-4]', BOUND, async () => {
    // The codec will not encode it: set the No Local bit (0x04) in the options byte by hand.
    const subscribe = (filter: string): Buffer => {
      const bytes = encode({
        type: PacketType.SUBSCRIBE, packetId: 7, subscriptions: [{ filter, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
      }, 5);
      bytes[bytes.length - 1] |= 0x04;
      return bytes;
    };
    // The same bytes on a plain filter are fine: it is the shared filter that is refused.
    const ok = await RawClient.connect(b.port, { protocolVersion: 5 });
    ok.send(subscribe(uid('nl-plain/')));
    assert.deepEqual((await ok.expect(PacketType.SUBACK)).reasonCodes, [1]);
    await ok.end();
    const bad = await RawClient.connect(b.port, { protocolVersion: 5 });
    bad.send(subscribe(`$share/g/${uid('nl-shared/')}`));
    assert.equal((await bad.expect(PacketType.DISCONNECT)).reasonCode, 0x82);
    await bad.expectClose();
  });

  for (const version of [4, 5] as const) {
    test(`v${version}: a client with a shared and a plain subscription matching a message gets two copies`, BOUND, async () => {
      const topic = uid('sh-both/');
      const c = await connectClient(b.url, version);
      const v5 = version === 5;
      await c.client.subscribeAsync(`$share/both/${topic}`, { qos: 1, ...(v5 ? { properties: { subscriptionIdentifier: 1 } } : {}) });
      await c.client.subscribeAsync(topic, { qos: 1, ...(v5 ? { properties: { subscriptionIdentifier: 2 } } : {}) });
      const pub = await connectClient(b.url, 5);
      await pub.client.publishAsync(topic, 'x', { qos: 1 });
      await pub.client.publishAsync(topic, 'y', { qos: 1 });
      const got = await drainUntilMarker(c);
      assert.deepEqual(sorted(got.map((g) => g.payload)), ['x', 'x', 'y', 'y']);
      if (v5) {
        // One copy per subscription, each with its own identifier.
        const ids = got.map((g) => `${g.payload}:${String(g.packet.properties?.subscriptionIdentifier)}`);
        assert.deepEqual(sorted(ids), ['x:1', 'x:2', 'y:1', 'y:2']);
      }
      await Promise.all([c.end(), pub.end()]);
    });
  }

  test('a member whose socket is congested is passed over while another is ready', BOUND, async () => {
    const topic = uid('sh-slow/');
    const filter = `$share/slow/${topic}`;
    const slow = await RawClient.connect(b.port, { protocolVersion: 5 });
    assert.deepEqual(await slow.subscribe(filter, 0), [0]);
    const fast = await RawClient.connect(b.port, { protocolVersion: 5 });
    assert.deepEqual(await fast.subscribe(filter, 0), [0]);
    // The slow member stops reading: once the kernel buffers are full its link is congested.
    slow.socket.pause();
    const pub = await RawClient.connect(b.port, { protocolVersion: 5 });
    const filler = Buffer.alloc(64 * 1024, 0x61);
    const atFast = new Set<number>();
    let streak = 0;
    let i = 0;
    // Loopback buffers hold a few MiB; 300 x 64 KiB messages, half of them to the slow member, is plenty.
    for (; i < 300 && streak < 30; i++) {
      pub.publish(topic, Buffer.concat([Buffer.from(`${i}:`), filler]), 1, { packetId: (i % 60000) + 1 });
      await pub.expect(PacketType.PUBACK);
      const got = (await collect(fast)).map((p) => Number(p.payload.toString('latin1', 0, 8).split(':')[0]));
      for (const n of got) atFast.add(n);
      streak = got.includes(i) ? streak + 1 : 0;
    }
    assert.equal(streak, 30, `after ${i} messages, the fast member still did not get every message`);
    const slowCount = i - atFast.size;
    assert.ok(slowCount > 0, 'the slow member had its turns before it was congested');
    // What the slow member was given is all there once it reads again: nothing lost, nothing twice.
    slow.socket.resume();
    const atSlow: number[] = [];
    for (let k = 0; k < slowCount; k++) {
      const p = await slow.expect(PacketType.PUBLISH);
      atSlow.push(Number(p.payload.toString('latin1', 0, 8).split(':')[0]));
    }
    assert.deepEqual(await collect(slow), []);
    assert.deepEqual([...atSlow, ...atFast].sort((x, y) => x - y), Array.from({ length: i }, (_, k) => k));
    await Promise.all([slow.end(), fast.end(), pub.end()]);
  });
});

/** A strategy's broker, three v5 members of `$share/g/{base}/+`, and what each received. */
async function threeMembers(b: TestBroker, base: string): Promise<TestClient[]> {
  const members = [await connectClient(b.url, 5), await connectClient(b.url, 5), await connectClient(b.url, 5)];
  for (const m of members) await m.client.subscribeAsync(`$share/g/${base}/+`, { qos: 1 });
  return members;
}

describe("shared subscriptions, sharedSubscriptionStrategy: 'random'", () => {
  let b: TestBroker;
  before(async () => { b = await startBroker({ sharedSubscriptionStrategy: 'random' }); });
  after(async () => { await b.close(); });

  test('over 200 messages every member gets some, each message exactly once, not in rotation', BOUND, async () => {
    const base = uid('rnd');
    const members = await threeMembers(b, base);
    const pub = await connectClient(b.url, 5);
    const n = 200;
    await Promise.all(Array.from({ length: n }, (_, i) => pub.client.publishAsync(`${base}/t`, `m${i}`, { qos: 1 })));
    const got = await Promise.all(members.map((m) => drainUntilMarker(m)));
    const who = assignment(got, n);
    for (const [m, g] of got.entries()) assert.ok(g.length > 0, `member ${m} got none of ${n}`);
    // Round robin over three ready members never gives one member two messages in a row.
    assert.ok(who.some((m, i) => i > 0 && who[i - 1] === m), 'the picks look like a rotation, not random');
    await Promise.all([...members, pub].map((x) => x.end()));
  });
});

describe("shared subscriptions, sharedSubscriptionStrategy: 'sticky'", () => {
  let b: TestBroker;
  before(async () => { b = await startBroker({ sharedSubscriptionStrategy: 'sticky' }); });
  after(async () => { await b.close(); });

  test("each publisher's messages, on many topics, go to one member; publishers spread over members", BOUND, async () => {
    const base = uid('sticky');
    const members = await threeMembers(b, base);
    // Fixed client ids: which member each maps to is then the same on every run.
    const pubs = await Promise.all([0, 1, 2, 3, 4, 5].map((k) => connectClient(b.url, 5, { clientId: `sticky-publisher-${k}` })));
    // Interleaved, on a different topic each time (a by-topic strategy would scatter them).
    for (let i = 0; i < 5; i++) {
      await Promise.all(pubs.map((p, k) => p.client.publishAsync(`${base}/t${i}`, `p${k}-${i}`, { qos: 1 })));
    }
    const got = await Promise.all(members.map((m) => drainUntilMarker(m)));
    assertExactlyOnce(got.map((g) => g.map((x) => x.payload)), pubs.flatMap((_, k) => [0, 1, 2, 3, 4].map((i) => `p${k}-${i}`)));
    const memberOf = new Map<string, Set<number>>();
    got.forEach((g, m) => {
      for (const x of g) {
        const publisher = x.payload.split('-')[0];
        if (!memberOf.has(publisher)) memberOf.set(publisher, new Set());
        memberOf.get(publisher)!.add(m);
      }
    });
    for (const [publisher, set] of memberOf) assert.equal(set.size, 1, `${publisher}'s messages went to members ${[...set]}`);
    const used = new Set([...memberOf.values()].map((s) => [...s][0]));
    assert.ok(used.size >= 2, 'six publishers all mapped to one member');
    await Promise.all([...members, ...pubs].map((x) => x.end()));
  });
});

describe("shared subscriptions, sharedSubscriptionStrategy: 'hash'", () => {
  let b: TestBroker;
  before(async () => { b = await startBroker({ sharedSubscriptionStrategy: 'hash' }); });
  after(async () => { await b.close(); });

  test('the same topic always goes to the same member, from any publisher; topics spread over members', BOUND, async () => {
    // Fixed topic names: which member each maps to is then the same on every run.
    const base = 'hash-strategy';
    const members = await threeMembers(b, base);
    const pubs = [await connectClient(b.url, 5), await connectClient(b.url, 4)];
    const topics = Array.from({ length: 12 }, (_, t) => `${base}/topic-${t}`);
    const expected: string[] = [];
    for (let round = 0; round < 3; round++) {
      for (const [t, topic] of topics.entries()) {
        const p = (round + t) % 2;
        await pubs[p].client.publishAsync(topic, `${t}-${round}`, { qos: 1 });
        expected.push(`${t}-${round}`);
      }
    }
    const got = await Promise.all(members.map((m) => drainUntilMarker(m)));
    assertExactlyOnce(got.map((g) => g.map((x) => x.payload)), expected);
    const memberOf = new Map<string, Set<number>>();
    got.forEach((g, m) => {
      for (const x of g) {
        if (!memberOf.has(x.topic)) memberOf.set(x.topic, new Set());
        memberOf.get(x.topic)!.add(m);
      }
    });
    for (const [topic, set] of memberOf) assert.equal(set.size, 1, `${topic} went to members ${[...set]}`);
    const used = new Set([...memberOf.values()].map((s) => [...s][0]));
    assert.ok(used.size >= 2, 'twelve topics all mapped to one member');
    await Promise.all([...members, ...pubs].map((x) => x.end()));
  });
});

describe('shared subscriptions: hand-off of a leaving member\'s messages (4.8.2)', () => {
  let b: TestBroker;
  let pub: TestClient;
  before(async () => {
    b = await startBroker();
    pub = await connectClient(b.url, 5);
  });
  after(async () => {
    await pub.end();
    await b.close();
  });

  for (const version of [4, 5] as const) {
    test(`(a) v${version}: QoS 1 not acknowledged by a member whose connection drops (session kept) goes to another member`, BOUND, async () => {
      const topic = uid('ho-a/');
      const filter = `$share/ho/${topic}`;
      const id = uid('ho-a');
      const session = version === 5 ? { properties: { sessionExpiryInterval: 300 } } : {};
      const [a] = await rawConnect(b.port, { protocolVersion: version, clientId: id, clean: false, ...session });
      assert.deepEqual(await a.subscribe(filter, 1), [1]);
      const other = await connectClient(b.url, 5);
      await other.client.subscribeAsync(filter, { qos: 1 });
      for (let i = 0; i < 6; i++) await pub.client.publishAsync(topic, `m${i}`, { qos: 1 });
      const unacked = payloads(await collect(a)); // never PUBACKed
      const otherFirst = (await drainUntilMarker(other)).map((g) => g.payload);
      assert.deepEqual([unacked.length, otherFirst.length], [3, 3]);
      const left = gone(b.broker, id);
      a.destroy();
      await left;
      const handed: string[] = [];
      for (let k = 0; k < unacked.length; k++) {
        const m = await other.nextMessage();
        assert.equal(m.packet.qos, 1);
        handed.push(m.payload);
      }
      assert.deepEqual(sorted(handed), sorted(unacked));
      assert.deepEqual(await drainUntilMarker(other), []);
      // Back, its session present: the handed-off messages are not sent again; it is still a member.
      const [a2, connack] = await rawConnect(b.port, { protocolVersion: version, clientId: id, clean: false, ...session });
      assert.equal(connack.sessionPresent, true);
      assert.deepEqual(await collect(a2), []);
      for (let i = 6; i < 8; i++) await pub.client.publishAsync(topic, `m${i}`, { qos: 1 });
      const later = await collect(a2);
      for (const p of later) a2.send({ type: PacketType.PUBACK, packetId: p.packetId, reasonCode: 0 });
      const otherLater = (await drainUntilMarker(other)).map((g) => g.payload);
      assert.deepEqual([later.length, otherLater.length], [1, 1]);
      assertExactlyOnce([payloads(later), [...otherFirst, ...handed, ...otherLater]], Array.from({ length: 8 }, (_, i) => `m${i}`));
      await Promise.all([a2.end(), other.end()]);
    });
  }

  test('(b) v5: a member whose session ends (expiry 0) gives its queued QoS 1 and QoS 2 to another member; a QoS 2 it was sent goes to nobody [MQTT-4.8.2-5]', BOUND, async () => {
    const topic = uid('ho-b/');
    const filter = `$share/ho/${topic}`;
    const id = uid('ho-b5');
    // Receive Maximum 1: one message goes out, the rest wait in its queue.
    const [a] = await rawConnect(b.port, { protocolVersion: 5, clientId: id, properties: { receiveMaximum: 1 } });
    assert.deepEqual(await a.subscribe(filter, 2), [2]);
    await pub.client.publishAsync(topic, 'm0', { qos: 2 });
    for (let i = 1; i < 4; i++) await pub.client.publishAsync(topic, `m${i}`, { qos: 1 });
    await pub.client.publishAsync(topic, 'm4', { qos: 2 });
    const sent = await collect(a);
    assert.deepEqual(sent.map((p) => [p.payload.toString(), p.qos]), [['m0', 2]]); // no PUBREC sent for it
    const other = await connectClient(b.url, 4);
    await other.client.subscribeAsync(filter, { qos: 2 });
    const left = gone(b.broker, id);
    a.destroy();
    await left;
    const handed: [string, number][] = [];
    for (let k = 0; k < 4; k++) {
      const m = await other.nextMessage();
      handed.push([m.payload, m.packet.qos]);
    }
    // Never sent, so never in the process of being sent: the queued QoS 2 message moves too.
    assert.deepEqual(handed.sort(), [['m1', 1], ['m2', 1], ['m3', 1], ['m4', 2]]);
    // m0 may already have been processed by the member that ended: giving it to another could
    // deliver it twice, so the server MUST NOT (4.8.2).
    assert.deepEqual(await drainUntilMarker(other), []);
    assertExactlyOnce([payloads(sent), handed.map(([p]) => p)], ['m0', 'm1', 'm2', 'm3', 'm4']);
    await other.end();
  });

  test('(b) 3.1.1: a Clean Session member that drops gives its unacknowledged QoS 1 to another member, not its QoS 2 without PUBREC', BOUND, async () => {
    const topic = uid('ho-b/');
    const filter = `$share/ho/${topic}`;
    const id = uid('ho-b4');
    const [a] = await rawConnect(b.port, { protocolVersion: 4, clientId: id, clean: true });
    assert.deepEqual(await a.subscribe(filter, 2), [2]);
    await pub.client.publishAsync(topic, 'm0', { qos: 2 });
    await pub.client.publishAsync(topic, 'm1', { qos: 1 });
    assert.deepEqual((await collect(a)).map((p) => [p.payload.toString(), p.qos]), [['m0', 2], ['m1', 1]]);
    const other = await connectClient(b.url, 5);
    await other.client.subscribeAsync(filter, { qos: 2 });
    const left = gone(b.broker, id);
    a.destroy();
    await left;
    assert.deepEqual((await drainUntilMarker(other)).map((m) => [m.payload, m.qos]), [['m1', 1]]);
    // Its session is gone: the same client id starts afresh with nothing.
    const [again, connack] = await rawConnect(b.port, { protocolVersion: 4, clientId: id, clean: false });
    assert.equal(connack.sessionPresent, false);
    assert.deepEqual(await collect(again), []);
    await Promise.all([again.end(), other.end()]);
  });

  test('a PUBACK or PUBREC with an error code discards the message: no other member gets it [MQTT-4.8.2-6]', BOUND, async () => {
    const topic = uid('ho-neg/');
    const filter = `$share/ho/${topic}`;
    const id = uid('ho-neg');
    const [a] = await rawConnect(b.port, { protocolVersion: 5, clientId: id });
    assert.deepEqual(await a.subscribe(filter, 2), [2]);
    await pub.client.publishAsync(topic, 'm0', { qos: 1 });
    await pub.client.publishAsync(topic, 'm1', { qos: 2 });
    const [p0, p1] = await collect(a);
    a.send({ type: PacketType.PUBACK, packetId: p0.packetId, reasonCode: 0x80 });
    a.send({ type: PacketType.PUBREC, packetId: p1.packetId, reasonCode: 0x83 });
    const other = await connectClient(b.url, 5);
    await other.client.subscribeAsync(filter, { qos: 2 });
    assert.deepEqual(await collect(a), []); // no PUBREL for a refused PUBREC [MQTT-4.3.3-4]
    const left = gone(b.broker, id);
    a.destroy();
    await left;
    assert.deepEqual(await drainUntilMarker(other), []);
    await other.end();
  });

  test('(c) QoS 2 sent to a persistent member and not PUBRECed stays with it and is re-sent with DUP on reconnect; its QoS 1 is handed off', BOUND, async () => {
    const topic = uid('ho-c/');
    const filter = `$share/ho/${topic}`;
    const id = uid('ho-c');
    const session = { clientId: id, clean: false, properties: { sessionExpiryInterval: 300 } };
    const [a] = await rawConnect(b.port, { protocolVersion: 5, ...session });
    assert.deepEqual(await a.subscribe(filter, 2), [2]);
    await pub.client.publishAsync(topic, 'm0', { qos: 2 });
    await pub.client.publishAsync(topic, 'm1', { qos: 1 });
    await pub.client.publishAsync(topic, 'm2', { qos: 2 });
    const first = await collect(a);
    assert.deepEqual(first.map((p) => [p.payload.toString(), p.qos, p.dup]), [['m0', 2, false], ['m1', 1, false], ['m2', 2, false]]);
    const other = await connectClient(b.url, 5);
    await other.client.subscribeAsync(filter, { qos: 2 });
    const left = gone(b.broker, id);
    a.destroy();
    await left;
    // Only the QoS 1 message moves.
    assert.deepEqual((await drainUntilMarker(other)).map((g) => [g.payload, g.qos]), [['m1', 1]]);
    const [a2, connack] = await rawConnect(b.port, { protocolVersion: 5, ...session });
    assert.equal(connack.sessionPresent, true);
    const again = await collect(a2);
    // [MQTT-4.4.0-1]: re-sent with the original packet identifiers, DUP set [MQTT-3.3.1-1].
    assert.deepEqual(again.map((p) => [p.payload.toString(), p.qos, p.dup, p.packetId]),
      [['m0', 2, true, first[0].packetId], ['m2', 2, true, first[2].packetId]]);
    for (const p of again) a2.send({ type: PacketType.PUBREC, packetId: p.packetId, reasonCode: 0 });
    for (const p of again) {
      assert.equal((await a2.expect(PacketType.PUBREL)).packetId, p.packetId);
      a2.send({ type: PacketType.PUBCOMP, packetId: p.packetId, reasonCode: 0 });
    }
    assert.deepEqual(await collect(a2), []);
    assert.deepEqual(await drainUntilMarker(other), []);
    await Promise.all([a2.end(), other.end()]);
  });

  test('(d) UNSUBSCRIBE of the shared filter hands the messages queued for it to another member', BOUND, async () => {
    const topic = uid('ho-d/');
    const filter = `$share/ho/${topic}`;
    const [a] = await rawConnect(b.port, { protocolVersion: 5, properties: { receiveMaximum: 1 } });
    assert.deepEqual(await a.subscribe(filter, 1), [1]);
    for (let i = 0; i < 4; i++) await pub.client.publishAsync(topic, `m${i}`, { qos: 1 });
    const inflight = await collect(a);
    assert.deepEqual(payloads(inflight), ['m0']); // m1..m3 queued behind Receive Maximum 1
    const other = await connectClient(b.url, 5);
    await other.client.subscribeAsync(filter, { qos: 1 });
    a.send({ type: PacketType.UNSUBSCRIBE, packetId: 2, filters: [filter] });
    assert.deepEqual((await a.expect(PacketType.UNSUBACK)).reasonCodes, [0]);
    const handed = [await other.nextMessage(), await other.nextMessage(), await other.nextMessage()].map((m) => m.payload);
    assert.deepEqual(handed, ['m1', 'm2', 'm3']);
    // The one it was sent is still its own to acknowledge; nothing else comes to it.
    a.send({ type: PacketType.PUBACK, packetId: inflight[0].packetId, reasonCode: 0 });
    assert.deepEqual(await collect(a), []);
    assertExactlyOnce([payloads(inflight), [...handed, ...(await drainUntilMarker(other)).map((g) => g.payload)]], ['m0', 'm1', 'm2', 'm3']);
    await Promise.all([a.end(), other.end()]);
  });

  test('(e) with no other member, a persistent member keeps its messages and gets them, in order, on reconnect', BOUND, async () => {
    const topic = uid('ho-e/');
    const filter = `$share/ho/${topic}`;
    const id = uid('ho-e');
    const [a] = await rawConnect(b.port, {
      protocolVersion: 5, clientId: id, clean: false, properties: { sessionExpiryInterval: 300, receiveMaximum: 1 },
    });
    assert.deepEqual(await a.subscribe(filter, 1), [1]);
    for (let i = 0; i < 4; i++) await pub.client.publishAsync(topic, `m${i}`, { qos: 1 });
    const first = await collect(a);
    assert.deepEqual(payloads(first), ['m0']);
    const left = gone(b.broker, id);
    a.destroy();
    await left;
    const [a2, connack] = await rawConnect(b.port, { protocolVersion: 5, clientId: id, clean: false, properties: { sessionExpiryInterval: 300 } });
    assert.equal(connack.sessionPresent, true);
    const again = await collect(a2);
    // The unacknowledged one first, with its packet identifier and DUP [MQTT-4.4.0-1]; then the queue.
    assert.deepEqual(again.map((p) => [p.payload.toString(), p.dup]), [['m0', true], ['m1', false], ['m2', false], ['m3', false]]);
    assert.equal(again[0].packetId, first[0].packetId);
    for (const p of again) a2.send({ type: PacketType.PUBACK, packetId: p.packetId, reasonCode: 0 });
    assert.deepEqual(await collect(a2), []);
    // End the session so it holds nothing after the test.
    a2.send({ type: PacketType.DISCONNECT, reasonCode: 0, properties: { sessionExpiryInterval: 0 } });
    await a2.expectClose();
  });
});
