// Keep alive end to end: the broker closes a silent client at 1.5 x Keep Alive (v5 with
// DISCONNECT 0x8D first), counts from the last complete packet (a trickled packet does not
// count), answers PINGREQ, honours maxKeepAlive through Server Keep Alive, and keeps no timer
// for Keep Alive 0. Every timing is performance.now() around an awaited packet or close.
// The suites run their tests concurrently: each has its own connection and waits mostly idle.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { encode, PacketType, type ConnackPacket, type ProtocolVersion } from '../../src/protocol/index.js';
import { connectClient, RawClient, startBroker, within, type TestBroker } from './harness.js';

/** Connects raw with this Keep Alive; returns the client, its CONNACK, and when the CONNACK arrived. */
async function connectRaw(port: number, version: ProtocolVersion, keepAlive: number, clientId: string):
  Promise<{ c: RawClient; connack: ConnackPacket; t0: number }> {
  const c = await RawClient.open(port, version);
  c.send({ type: PacketType.CONNECT, protocolVersion: version, clean: true, keepAlive, clientId });
  const connack = await c.expect(PacketType.CONNACK);
  // The broker's clock started when it accepted CONNECT, just before this: elapsed times measured
  // from here are never longer than the broker's.
  const t0 = performance.now();
  assert.equal(connack.reasonCode, 0);
  return { c, connack, t0 };
}

/**
 * Waits for the broker to end the link (v5: DISCONNECT 0x8D, then the close; 3.x: the close with
 * nothing sent) and returns the milliseconds since t0 at which it did.
 */
async function closedForKeepAlive(c: RawClient, version: ProtocolVersion, t0: number, ms: number): Promise<number> {
  if (version === 5) {
    const d = await c.expect(PacketType.DISCONNECT, ms);
    const at = performance.now() - t0;
    assert.equal(d.reasonCode, 0x8d);
    await c.expectClose(1000);
    return at;
  }
  await c.expectClose(ms);
  return performance.now() - t0;
}

/** A bounded wait on the close event that must not fire. */
async function staysOpen(c: RawClient, ms: number): Promise<void> {
  const closed = await Promise.race([c.closedPromise.then(() => true), delay(ms).then(() => false)]);
  assert.equal(closed, false, `the connection closed within ${ms} ms`);
}

async function ping(c: RawClient, ms = 1000): Promise<void> {
  c.send({ type: PacketType.PINGREQ });
  await c.expect(PacketType.PINGRESP, ms);
}

describe('keep alive', { concurrency: true }, () => {
  let b: TestBroker;
  before(async () => { b = await startBroker(); });
  after(async () => { await b.close(); });

  for (const version of [3, 4, 5] as const) {
    test(`v${version}: Keep Alive 1 s and silence after CONNACK: closed at 1.5 s${version === 5 ? ' with DISCONNECT 0x8D' : ''}`, async () => {
      const { c, t0 } = await connectRaw(b.port, version, 1, `ka-silent-v${version}`);
      const at = await closedForKeepAlive(c, version, t0, 2600);
      assert.ok(at >= 1400, `closed after ${at.toFixed(0)} ms: earlier than 1.5 x Keep Alive`);
      assert.ok(at <= 2500, `closed after ${at.toFixed(0)} ms`);
    });
  }

  test('PINGREQ every 0.5 s keeps a Keep Alive 1 s connection open past 3 s, each answered with PINGRESP', async () => {
    const { c, t0 } = await connectRaw(b.port, 4, 1, 'ka-pinger');
    let pongs = 0;
    while (performance.now() - t0 < 3200) {
      await delay(500); // idleness between pings
      await ping(c);
      pongs++;
    }
    assert.ok(pongs >= 6, `${pongs} PINGRESP`);
    assert.equal(c.isClosed, false);
    assert.ok(performance.now() - t0 > 3000);
    await c.end();
  });

  test('PINGREQ every 1.2 s (more than 1 x, less than 1.5 x Keep Alive 1 s) keeps the connection open', async () => {
    const { c, t0 } = await connectRaw(b.port, 5, 1, 'ka-slow-pinger');
    for (let i = 0; i < 2; i++) {
      await delay(1200); // idleness longer than Keep Alive itself
      await ping(c);
    }
    assert.equal(c.isClosed, false);
    assert.ok(performance.now() - t0 >= 2400);
    await c.end();
  });

  test('MQTT.js with keepalive 1 (it pings on its own) stays connected past 2 s', async () => {
    const m = await connectClient(b.url, 5, { clientId: 'ka-mqttjs', keepalive: 1 });
    const closed = new Promise<boolean>((resolve) => m.client.once('close', () => resolve(true)));
    await within(m.client.subscribeAsync('ka/mqttjs'), 'SUBACK');
    // A bounded wait on the close event that must not fire; MQTT.js pings at 1 s meanwhile.
    assert.equal(await Promise.race([closed, delay(2200).then(() => false)]), false, 'closed within 2.2 s');
    await within(m.client.publishAsync('ka/mqttjs', 'alive', { qos: 1 }), 'the publish to complete');
    assert.equal((await m.nextMessage()).payload, 'alive');
    await m.end();
  });

  for (const version of [4, 5] as const) {
    test(`v${version}: a PUBLISH trickled one byte every 300 ms does not count: closed at 1.5 s (slowloris)`, async () => {
      const { c, t0 } = await connectRaw(b.port, version, 1, `ka-slowloris-v${version}`);
      const publish = encode({
        type: PacketType.PUBLISH, topic: 'slow/loris', payload: Buffer.alloc(4000, 0x61), qos: 0, retain: false, dup: false, packetId: 0,
      }, version);
      let sent = 0;
      const trickle = setInterval(() => {
        if (!c.isClosed && sent < publish.length) c.send(publish.subarray(sent, ++sent));
      }, 300);
      try {
        c.send(publish.subarray(0, ++sent));
        const at = await closedForKeepAlive(c, version, t0, 2600);
        assert.ok(at >= 1400, `closed after ${at.toFixed(0)} ms`);
        assert.ok(at <= 2500, `closed after ${at.toFixed(0)} ms: the trickle kept it alive`);
        assert.ok(sent >= 4, `only ${sent} bytes trickled`);
      } finally {
        clearInterval(trickle);
      }
    });
  }

  for (const version of [4, 5] as const) {
    test(`v${version}: Keep Alive 0 disables the timer: still open after 2 s of silence`, async () => {
      const { c, connack } = await connectRaw(b.port, version, 0, `ka-zero-v${version}`);
      assert.equal(connack.properties?.serverKeepAlive, undefined);
      await staysOpen(c, 2000);
      await ping(c);
      await c.end();
    });
  }
});

describe('maxKeepAlive', { concurrency: true }, () => {
  let b: TestBroker;
  before(async () => { b = await startBroker({ maxKeepAlive: 2 }); });
  after(async () => { await b.close(); });

  for (const asked of [60, 0]) {
    test(`v5 asking Keep Alive ${asked} with maxKeepAlive 2: Server Keep Alive 2, closed after ~3 s of silence`, async () => {
      const { c, connack, t0 } = await connectRaw(b.port, 5, asked, `ka-max-${asked}`);
      assert.equal(connack.properties?.serverKeepAlive, 2);
      const at = await closedForKeepAlive(c, 5, t0, 4200);
      assert.ok(at >= 2850, `closed after ${at.toFixed(0)} ms: earlier than 1.5 x Server Keep Alive`);
      assert.ok(at <= 4000, `closed after ${at.toFixed(0)} ms`);
    });
  }

  test('v5 asking Keep Alive 1 (below the cap): no Server Keep Alive, its own 1 s applies', async () => {
    const { c, connack, t0 } = await connectRaw(b.port, 5, 1, 'ka-max-below');
    assert.equal(connack.properties?.serverKeepAlive, undefined);
    const at = await closedForKeepAlive(c, 5, t0, 2600);
    assert.ok(at >= 1400 && at <= 2500, `closed after ${at.toFixed(0)} ms`);
  });
});
