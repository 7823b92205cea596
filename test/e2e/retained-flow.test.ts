// A wildcard subscription over a large retained set: every message is delivered, with flow
// control (never more than the client's window in flight), not cut off at the queue bound.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { PacketType } from '../../src/protocol/index.js';
import { RawClient, startBroker, type TestBroker } from './harness.js';

let b: TestBroker;
const COUNT = 5000;
before(async () => {
  b = await startBroker({ sysInterval: 0, maxQueuedMessages: 100 });
  for (let i = 0; i < COUNT; i++) b.broker.publish({ topic: `big/${i}`, payload: `r${i}`, qos: 1, retain: true });
});
after(async () => { await b.close(); });

test(`${COUNT} retained QoS 1 messages reach a subscriber with Receive Maximum 10, never more than 10 unacknowledged`, { timeout: 30_000 }, async () => {
  const sub = await RawClient.connect(b.port, { protocolVersion: 5, properties: { receiveMaximum: 10 } });
  sub.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ filter: 'big/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }] });
  assert.deepEqual((await sub.expect(PacketType.SUBACK)).reasonCodes, [1]);
  const seen = new Set<string>();
  const unacked = new Set<number>();
  let maxUnacked = 0;
  while (seen.size < COUNT) {
    const p = await sub.expect(PacketType.PUBLISH, 10_000);
    assert.equal(p.retain, true);
    seen.add(p.payload.toString());
    unacked.add(p.packetId);
    maxUnacked = Math.max(maxUnacked, unacked.size);
    // Acknowledge in batches of 5, after more has arrived: the broker must wait for them.
    if (unacked.size >= 5) {
      for (const id of unacked) sub.send({ type: PacketType.PUBACK, packetId: id, reasonCode: 0 });
      unacked.clear();
    }
  }
  for (const id of unacked) sub.send({ type: PacketType.PUBACK, packetId: id, reasonCode: 0 });
  assert.equal(seen.size, COUNT);
  assert.ok(maxUnacked <= 10, `at most 10 unacknowledged at once, saw ${maxUnacked}`);
  // Nothing was dropped for the queue bound (100), and nothing more is owed.
  const session = b.broker.registry.get([...b.broker.registry.values()].find((s) => s.outlet !== undefined)!.clientId)!;
  assert.equal(session.dropped.queueFull, 0);
  sub.send({ type: PacketType.PINGREQ });
  await sub.expect(PacketType.PINGRESP);
  await sub.end();
});

test(`${COUNT} retained messages at QoS 0 all arrive at a 3.1.1 subscriber`, { timeout: 30_000 }, async () => {
  const sub = await RawClient.connect(b.port);
  assert.deepEqual(await sub.subscribe('big/#', 0), [0]);
  const seen = new Set<string>();
  while (seen.size < COUNT) seen.add((await sub.expect(PacketType.PUBLISH, 10_000)).payload.toString());
  await sub.end();
});
