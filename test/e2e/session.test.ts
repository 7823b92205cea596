// Sessions end to end: Clean Session (3.x) and Clean Start with Session Expiry Interval (v5),
// Session Present, subscriptions across reconnects, session expiry (its timing, changes at
// DISCONNECT, the maxSessionExpiryInterval cap), and the offline queue with its bounds.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { IClientOptions, IConnackPacket } from 'mqtt';
import type { Connection } from '../../src/broker/connection.js';
import { PacketType, type ConnackPacket, type ConnectPacket } from '../../src/protocol/index.js';
import {
  connectClient, RawClient, startBroker, within, type TestBroker, type TestClient,
} from './harness.js';

type Version = 3 | 4 | 5;

/** Connects MQTT.js (listening from before the CONNACK), with the CONNACK for Session Present. */
const reconnect = (url: string, version: Version, options: IClientOptions): Promise<TestClient> => connectClient(url, version, options);

/** Idles until `ms` after `t0` (only to let a session's expiry clock run; every check after it is an awaited CONNACK). */
async function sleepUntil(t0: number, ms: number): Promise<void> {
  const left = t0 + ms - performance.now();
  if (left > 0) await delay(left);
}

/** MQTT.js options for a session that outlives its connection (3.x Clean Session 0, v5 expiry). */
function persistent(version: Version, clientId: string, expiry = 60): IClientOptions {
  return { clientId, clean: false, ...(version === 5 ? { properties: { sessionExpiryInterval: expiry } } : {}) };
}

/** Resolves (with the time) when the broker has detached the session of this client id from its link. */
function detached(b: TestBroker, clientId: string): Promise<number> {
  const gone = within(new Promise<number>((resolve) => {
    const listener = (conn: Connection): void => {
      if (conn.clientId !== clientId) return;
      b.broker.off('clientDisconnect', listener);
      resolve(performance.now());
    };
    b.broker.on('clientDisconnect', listener);
  }), `the broker to detach ${clientId}`);
  gone.catch(() => undefined); // a test that fails before awaiting it reports its own error
  return gone;
}

/** Ends an MQTT.js client and waits until the broker has let go of its session. */
async function endAndDetach(b: TestBroker, c: TestClient, clientId: string): Promise<number> {
  const gone = detached(b, clientId);
  await c.end();
  return gone;
}

/** A raw CONNECT; returns the client and its CONNACK. */
async function handshake(port: number, fields: Partial<ConnectPacket>): Promise<{ c: RawClient; connack: ConnackPacket }> {
  const version = fields.protocolVersion ?? 4;
  const c = await RawClient.open(port, version);
  c.send({ type: PacketType.CONNECT, protocolVersion: version, clean: true, keepAlive: 0, clientId: 'unnamed', ...fields });
  return { c, connack: await c.expect(PacketType.CONNACK) };
}

/** Connects with Clean Start 0 / Clean Session 0 only to read Session Present, then leaves (v5: ending the session). */
async function probe(b: TestBroker, version: Version, clientId: string): Promise<boolean> {
  const gone = detached(b, clientId);
  const { c, connack } = await handshake(b.port, { protocolVersion: version, clientId, clean: false });
  assert.equal(connack.reasonCode, 0);
  await c.end();
  await gone;
  return connack.sessionPresent;
}

/**
 * Publishes `payload` on `topic` and then a sentinel on `sentinelTopic` from one publisher; the
 * subscriber's next message tells whether the first was delivered (order is kept per publisher).
 */
async function deliveredBeforeSentinel(pub: TestClient, sub: TestClient, topic: string, sentinelTopic: string): Promise<boolean> {
  await within(pub.client.publishAsync(topic, 'probe', { qos: 1 }), 'the publish to complete');
  await within(pub.client.publishAsync(sentinelTopic, 'sentinel', { qos: 1 }), 'the publish to complete');
  const first = await sub.nextMessage();
  if (first.topic === sentinelTopic) return false;
  assert.equal(first.topic, topic);
  assert.equal((await sub.nextMessage()).topic, sentinelTopic);
  return true;
}

describe('Session Present and subscriptions across reconnects', () => {
  let b: TestBroker;
  before(async () => { b = await startBroker(); });
  after(async () => { await b.close(); });

  for (const version of [3, 4] as const) {
    test(`v${version} Clean Session: Session Present in each combination`, async () => {
      const clientId = `sp-v${version}`;
      const steps: [clean: boolean, present: boolean][] = [
        [true, false], // clean, nothing before
        [false, false], // persistent, nothing before (the clean session ended with its connection)
        [false, true], // persistent, resumed
        [true, false], // clean: the persistent session is discarded [MQTT-3.2.2-1]
        [false, false], // so there is nothing to resume
      ];
      for (const [clean, present] of steps) {
        const c = await connectClient(b.url, version, { clientId, clean });
        const connack = (c.client as unknown as { connackPacket: IConnackPacket }).connackPacket;
        assert.equal(connack.sessionPresent, present, `clean ${clean}: Session Present ${present}`);
        await endAndDetach(b, c, clientId);
      }
    });
  }

  test('v5 Clean Start and Session Expiry Interval: Session Present in each combination', async () => {
    const clientId = 'sp-v5';
    const steps: [clean: boolean, expiry: number | undefined, present: boolean][] = [
      [true, undefined, false], // clean, expiry absent (0)
      [false, undefined, false], // the last session ended at its disconnect: nothing to resume
      [false, 60, false], // ended again (expiry was 0); this one persists
      [false, 60, true], // resumed [MQTT-3.2.2-3]
      [true, 60, false], // Clean Start 1 discards it [MQTT-3.2.2-2]; the new one persists
      [false, 0, true], // resumed the new one; expiry 0 ends it at disconnect
      [false, 60, false],
    ];
    for (const [clean, expiry, present] of steps) {
      const c = await reconnect(b.url, 5, {
        clientId, clean, ...(expiry !== undefined ? { properties: { sessionExpiryInterval: expiry } } : {}),
      });
      assert.equal(c.connack.sessionPresent, present, `clean ${clean}, expiry ${expiry}: Session Present ${present}`);
      await endAndDetach(b, c, clientId);
    }
  });

  for (const version of [3, 4, 5] as const) {
    test(`v${version}: subscriptions survive a persistent reconnect and are gone after a clean one`, async () => {
      const clientId = `subs-v${version}`;
      const topic = `subs/v${version}/data`;
      const sentinel = `subs/v${version}/sentinel`;
      const pub = await connectClient(b.url, version, { clientId: `${clientId}-pub` });

      const first = await connectClient(b.url, version, persistent(version, clientId));
      await within(first.client.subscribeAsync(topic, { qos: 1 }), 'SUBACK');
      await endAndDetach(b, first, clientId);

      const resumed = await reconnect(b.url, version, persistent(version, clientId));
      assert.equal(resumed.connack.sessionPresent, true);
      await within(resumed.client.subscribeAsync(sentinel, { qos: 1 }), 'SUBACK');
      assert.equal(await deliveredBeforeSentinel(pub, resumed, topic, sentinel), true, 'the subscription survived');
      await endAndDetach(b, resumed, clientId);

      const clean = await reconnect(b.url, version, { clientId, clean: true });
      assert.equal(clean.connack.sessionPresent, false);
      await within(clean.client.subscribeAsync(sentinel, { qos: 1 }), 'SUBACK');
      assert.equal(await deliveredBeforeSentinel(pub, clean, topic, sentinel), false, 'the clean session has no old subscription');
      await endAndDetach(b, clean, clientId);

      // The clean session ended with its connection: nothing left to resume either.
      const after = await reconnect(b.url, version, persistent(version, clientId));
      assert.equal(after.connack.sessionPresent, false);
      await Promise.all([after.end(), pub.end()]);
    });
  }
});

describe('v5 session expiry', () => {
  let b: TestBroker;
  before(async () => { b = await startBroker(); });
  after(async () => { await b.close(); });

  test('Session Expiry Interval 1 s: present at 0.6 s, gone at 1.4 s', async () => {
    // Two sessions ended together; one is probed before its expiry, the other after.
    const [early, late] = ['expiry-early', 'expiry-late'];
    const clients = await Promise.all([early, late].map((id) => connectClient(b.url, 5, persistent(5, id, 1))));
    await Promise.all(clients.map((c) => within(c.client.subscribeAsync('expiry/t', { qos: 1 }), 'SUBACK')));
    const [earlyEnd, lateEnd] = await Promise.all([endAndDetach(b, clients[0], early), endAndDetach(b, clients[1], late)]);

    await sleepUntil(earlyEnd, 600); // idleness for the expiry clock
    assert.equal(await probe(b, 5, early), true, 'the session still exists before its expiry');
    const probedAt = performance.now() - earlyEnd;
    assert.ok(probedAt < 950, `probed at ${probedAt.toFixed(0)} ms, too late to show the session before expiry`);

    await sleepUntil(lateEnd, 1400);
    const sentAt = performance.now() - lateEnd;
    assert.ok(sentAt >= 1050, `probing at ${sentAt.toFixed(0)} ms`);
    assert.equal(await probe(b, 5, late), false, 'the session expired');
  });

  test('Session Expiry Interval 0 (absent or explicit) ends the session at disconnect', async () => {
    for (const properties of [undefined, { sessionExpiryInterval: 0 }]) {
      const clientId = `expiry-zero-${properties === undefined ? 'absent' : 'explicit'}`;
      const c = await connectClient(b.url, 5, { clientId, clean: false, ...(properties ? { properties } : {}) });
      await within(c.client.subscribeAsync('zero/t'), 'SUBACK');
      await endAndDetach(b, c, clientId);
      assert.equal(await probe(b, 5, clientId), false);
    }
  });

  test('a Session Expiry Interval at DISCONNECT takes effect: 60 → 0 ends the session now', async () => {
    const clientId = 'expiry-at-disconnect-0';
    const c = await connectClient(b.url, 5, persistent(5, clientId, 60));
    const gone = detached(b, clientId);
    await within(c.client.endAsync({ reasonCode: 0, properties: { sessionExpiryInterval: 0 } }), 'MQTT.js to end');
    await gone;
    assert.equal(await probe(b, 5, clientId), false);
  });

  test('a Session Expiry Interval at DISCONNECT takes effect: 1 → 60 keeps the session past 1 s', async () => {
    const [control, extended] = ['expiry-at-disconnect-control', 'expiry-at-disconnect-60'];
    const ctl = await connectClient(b.url, 5, persistent(5, control, 1));
    const ext = await connectClient(b.url, 5, persistent(5, extended, 1));
    const gone = [detached(b, control), detached(b, extended)];
    await Promise.all([
      ctl.end(),
      within(ext.client.endAsync({ reasonCode: 0, properties: { sessionExpiryInterval: 60 } }), 'MQTT.js to end'),
    ]);
    await sleepUntil(Math.max(...await Promise.all(gone)), 1400);
    assert.equal(await probe(b, 5, control), false, 'the control session with expiry 1 is gone');
    assert.equal(await probe(b, 5, extended), true, 'the session whose DISCONNECT set 60 is still there');
  });

  test('DISCONNECT with a non-zero Session Expiry Interval after 0 at CONNECT: DISCONNECT 0x82, session gone', async () => {
    const clientId = 'expiry-0-then-30';
    const { c } = await handshake(b.port, { protocolVersion: 5, clientId, clean: false });
    c.send({ type: PacketType.DISCONNECT, reasonCode: 0, properties: { sessionExpiryInterval: 30 } });
    assert.equal((await c.expect(PacketType.DISCONNECT)).reasonCode, 0x82);
    await c.expectClose();
    assert.equal(await probe(b, 5, clientId), false);
  });
});

describe('maxSessionExpiryInterval', () => {
  let b: TestBroker;
  before(async () => { b = await startBroker({ maxSessionExpiryInterval: 1 }); });
  after(async () => { await b.close(); });

  test('caps what v5 clients ask (CONNACK says so), DISCONNECT values, and 3.x persistent sessions', async () => {
    const asked = await reconnect(b.url, 5, persistent(5, 'cap-v5', 3600));
    assert.equal(asked.connack.properties?.sessionExpiryInterval, 1);
    const control = await reconnect(b.url, 5, persistent(5, 'cap-control', 3600));
    const atDisconnect = await reconnect(b.url, 5, persistent(5, 'cap-at-disconnect', 1));
    assert.equal(atDisconnect.connack.properties?.sessionExpiryInterval, undefined, 'not capped: nothing to say');
    const v4 = await reconnect(b.url, 4, persistent(4, 'cap-v4'));
    const ends = await Promise.all([
      endAndDetach(b, asked, 'cap-v5'),
      endAndDetach(b, control, 'cap-control'),
      (async () => {
        const gone = detached(b, 'cap-at-disconnect');
        await within(atDisconnect.client.endAsync({ reasonCode: 0, properties: { sessionExpiryInterval: 3600 } }), 'MQTT.js to end');
        return gone;
      })(),
      endAndDetach(b, v4, 'cap-v4'),
    ]);
    const t0 = Math.max(...ends);
    // Shortly before the cap, the sessions exist (so they were not simply ended at disconnect) ...
    await sleepUntil(ends[1], 500);
    assert.equal(await probe(b, 5, 'cap-control'), true);
    assert.ok(performance.now() - ends[1] < 950, 'probed before the cap ran out');
    // ... and after it, they are gone.
    await sleepUntil(t0, 1400);
    assert.equal(await probe(b, 5, 'cap-v5'), false, 'v5 session capped at 1 s');
    assert.equal(await probe(b, 5, 'cap-at-disconnect'), false, 'DISCONNECT expiry capped at 1 s');
    assert.equal(await probe(b, 4, 'cap-v4'), false, '3.1.1 persistent session capped at 1 s');
  });
});

describe('offline messages', () => {
  let b: TestBroker;
  before(async () => { b = await startBroker(); });
  after(async () => { await b.close(); });

  for (const version of [3, 4, 5] as const) {
    test(`v${version}: QoS 1 and 2 published while offline arrive on reconnect, in order; QoS 0 does not`, async () => {
      const clientId = `offline-v${version}`;
      const sub = await connectClient(b.url, version, persistent(version, clientId));
      await within(sub.client.subscribeAsync(`offline/v${version}/#`, { qos: 2 }), 'SUBACK');
      await endAndDetach(b, sub, clientId);

      const pub = await connectClient(b.url, version, { clientId: `${clientId}-pub` });
      await within(pub.client.publishAsync(`offline/v${version}/a`, 'one', { qos: 1 }), 'the publish to complete');
      await within(pub.client.publishAsync(`offline/v${version}/b`, 'zero', { qos: 0 }), 'the publish to complete');
      await within(pub.client.publishAsync(`offline/v${version}/c`, 'two', { qos: 2 }), 'the publish to complete');

      const back = await reconnect(b.url, version, persistent(version, clientId));
      assert.equal(back.connack.sessionPresent, true);
      const m1 = await back.nextMessage();
      const m2 = await back.nextMessage();
      assert.deepEqual([m1.payload, m1.packet.qos], ['one', 1]);
      assert.deepEqual([m2.payload, m2.packet.qos], ['two', 2]);
      // The next one is live: nothing else was queued (the QoS 0 message was not).
      await within(pub.client.publishAsync(`offline/v${version}/live`, 'live', { qos: 1 }), 'the publish to complete');
      assert.equal((await back.nextMessage()).payload, 'live');
      await Promise.all([back.end(), pub.end()]);
    });
  }
});

describe('offline messages with queueQos0', () => {
  let b: TestBroker;
  before(async () => { b = await startBroker({ queueQos0: true }); });
  after(async () => { await b.close(); });

  for (const version of [4, 5] as const) {
    test(`v${version}: QoS 0 messages are queued for an offline persistent session`, async () => {
      const clientId = `q0-v${version}`;
      const sub = await connectClient(b.url, version, persistent(version, clientId));
      await within(sub.client.subscribeAsync(`q0/v${version}/#`, { qos: 1 }), 'SUBACK');
      await endAndDetach(b, sub, clientId);
      const pub = await connectClient(b.url, version, { clientId: `${clientId}-pub` });
      await within(pub.client.publishAsync(`q0/v${version}/a`, 'zero', { qos: 0 }), 'the publish to complete');
      await within(pub.client.publishAsync(`q0/v${version}/b`, 'one', { qos: 1 }), 'the publish to complete');
      const back = await reconnect(b.url, version, persistent(version, clientId));
      const m1 = await back.nextMessage();
      const m2 = await back.nextMessage();
      assert.deepEqual([m1.payload, m1.packet.qos], ['zero', 0]);
      assert.deepEqual([m2.payload, m2.packet.qos], ['one', 1]);
      await Promise.all([back.end(), pub.end()]);
    });
  }

  test('v5: nothing is queued for a session that ends at disconnect (expiry 0)', async () => {
    const clientId = 'q0-expiry-0';
    const sub = await connectClient(b.url, 5, { clientId, clean: false });
    await within(sub.client.subscribeAsync('q0/zero/#', { qos: 1 }), 'SUBACK');
    await endAndDetach(b, sub, clientId);
    const pub = await connectClient(b.url, 5, { clientId: `${clientId}-pub` });
    await within(pub.client.publishAsync('q0/zero/a', 'zero', { qos: 0 }), 'the publish to complete');
    const back = await reconnect(b.url, 5, persistent(5, clientId));
    assert.equal(back.connack.sessionPresent, false);
    await within(back.client.subscribeAsync('q0/zero/#', { qos: 1 }), 'SUBACK');
    await within(pub.client.publishAsync('q0/zero/live', 'live', { qos: 1 }), 'the publish to complete');
    assert.equal((await back.nextMessage()).payload, 'live');
    await Promise.all([back.end(), pub.end()]);
  });
});

describe('maxQueuedMessages', () => {
  let b: TestBroker;
  before(async () => { b = await startBroker({ maxQueuedMessages: 5 }); });
  after(async () => { await b.close(); });

  for (const version of [4, 5] as const) {
    test(`v${version}: 8 published while offline, exactly the first 5 arrive, in order`, async () => {
      const clientId = `bound-v${version}`;
      const sub = await connectClient(b.url, version, persistent(version, clientId));
      await within(sub.client.subscribeAsync(`bound/v${version}`, { qos: 1 }), 'SUBACK');
      await endAndDetach(b, sub, clientId);
      const pub = await connectClient(b.url, version, { clientId: `${clientId}-pub` });
      for (let i = 0; i < 8; i++) await within(pub.client.publishAsync(`bound/v${version}`, `m${i}`, { qos: 1 }), 'the publish to complete');
      const back = await reconnect(b.url, version, persistent(version, clientId));
      assert.equal(back.connack.sessionPresent, true);
      const got: string[] = [];
      for (let i = 0; i < 5; i++) got.push((await back.nextMessage()).payload);
      assert.deepEqual(got, ['m0', 'm1', 'm2', 'm3', 'm4']);
      // The next message is one published now: m5..m7 were dropped, not delayed.
      await within(pub.client.publishAsync(`bound/v${version}`, 'live', { qos: 1 }), 'the publish to complete');
      assert.equal((await back.nextMessage()).payload, 'live');
      assert.equal(back.received.length, 6);
      await Promise.all([back.end(), pub.end()]);
    });
  }
});
