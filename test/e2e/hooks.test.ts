// Authorization hooks: sync and async answers, what each protocol version is told, and that
// a refused message or subscription really goes nowhere.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PacketType } from '../../src/protocol/index.js';
import type { PublishContext, SubscribeContext } from '../../src/index.js';
import { RawClient, startBroker, type TestBroker } from './harness.js';

const delay = <T>(value: T): Promise<T> => new Promise((resolve) => setImmediate(() => resolve(value)));

describe('authorizePublish and authorizeSubscribe', () => {
  let b: TestBroker;
  const seen: PublishContext[] = [];
  before(async () => {
    b = await startBroker({
      hooks: {
        authorizePublish: (ctx) => {
          seen.push(ctx);
          if (ctx.topic.startsWith('deny/')) return false;
          if (ctx.topic.startsWith('async-deny/')) return delay(false);
          if (ctx.topic.startsWith('quota/')) return { reasonCode: 0x97 };
          return ctx.topic.startsWith('async/') ? delay(true) : true;
        },
        authorizeSubscribe: (ctx: SubscribeContext) => {
          if (ctx.filter.startsWith('secret/')) return false;
          return ctx.filter.startsWith('slow/') ? delay(true) : true;
        },
      },
    });
  });
  after(async () => { await b.close(); });

  test('v5: a refused PUBLISH gets PUBACK / PUBREC 0x87 (or the hook\'s code) and reaches nobody', async () => {
    const sub = await RawClient.connect(b.port, { protocolVersion: 5 });
    await sub.subscribe('#', 2);
    const pub = await RawClient.connect(b.port, { protocolVersion: 5, clientId: 'hook-pub-5' });
    pub.publish('deny/a', 'x', 1, { packetId: 1 });
    assert.equal((await pub.expect(PacketType.PUBACK)).reasonCode, 0x87);
    pub.publish('async-deny/a', 'x', 2, { packetId: 2 });
    assert.equal((await pub.expect(PacketType.PUBREC)).reasonCode, 0x87);
    pub.publish('quota/a', 'x', 1, { packetId: 3 });
    assert.equal((await pub.expect(PacketType.PUBACK)).reasonCode, 0x97);
    // A refused QoS 2 id is not kept: the same id is a new message [MQTT-4.3.3-9].
    pub.publish('async/ok', 'allowed', 2, { packetId: 2 });
    assert.equal((await pub.expect(PacketType.PUBREC)).reasonCode, 0x00);
    const p = await sub.expect(PacketType.PUBLISH);
    assert.equal(p.topic, 'async/ok');
    assert.equal(seen.find((c) => c.topic === 'deny/a')?.client.clientId, 'hook-pub-5');
    await Promise.all([sub.end(), pub.end()]);
  });

  test('3.1.1: a refused PUBLISH is acknowledged normally and dropped', async () => {
    const sub = await RawClient.connect(b.port);
    await sub.subscribe('#', 1);
    const pub = await RawClient.connect(b.port);
    pub.publish('deny/b', 'x', 1, { packetId: 5 });
    assert.equal((await pub.expect(PacketType.PUBACK)).packetId, 5);
    pub.publish('ok/b', 'y', 0);
    const p = await sub.expect(PacketType.PUBLISH);
    assert.equal(p.topic, 'ok/b'); // the refused one never arrived first
    await Promise.all([sub.end(), pub.end()]);
  });

  test('packets after an async decision keep their order', async () => {
    const sub = await RawClient.connect(b.port);
    await sub.subscribe('#', 0);
    const pub = await RawClient.connect(b.port);
    for (let i = 0; i < 20; i++) pub.publish(i % 2 === 0 ? `async/${i}` : `sync/${i}`, String(i), 0);
    const got: string[] = [];
    for (let i = 0; i < 20; i++) got.push((await sub.expect(PacketType.PUBLISH)).payload.toString());
    assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => String(i)));
    await Promise.all([sub.end(), pub.end()]);
  });

  test('a refused subscription: v5 SUBACK 0x87, 3.1.1 SUBACK 0x80, and nothing delivered for it', async () => {
    const v5 = await RawClient.connect(b.port, { protocolVersion: 5 });
    v5.send({
      type: PacketType.SUBSCRIBE, packetId: 9,
      subscriptions: [
        { filter: 'secret/x', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 },
        { filter: 'slow/x', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      ],
    });
    assert.deepEqual((await v5.expect(PacketType.SUBACK)).reasonCodes, [0x87, 1]);
    const v4 = await RawClient.connect(b.port);
    assert.deepEqual(await v4.subscribe('secret/x', 1), [0x80]);
    const pub = await RawClient.connect(b.port);
    pub.publish('secret/x', 'hidden', 0);
    pub.publish('slow/x', 'shown', 0);
    const p = await v5.expect(PacketType.PUBLISH);
    assert.equal(p.topic, 'slow/x');
    v4.send({ type: PacketType.PINGREQ });
    await v4.expect(PacketType.PINGRESP);
    assert.equal(v4.buffered.length, 0);
    await Promise.all([v5.end(), v4.end(), pub.end()]);
  });
});

describe('a hook that throws', () => {
  let b: TestBroker;
  before(async () => {
    b = await startBroker({ hooks: { authorizePublish: () => { throw new Error('hook bug'); } } });
    b.broker.on('clientError', () => undefined);
  });
  after(async () => { await b.close(); });

  test('closes only that connection (v5: DISCONNECT 0x83) and the broker carries on', async () => {
    const bystander = await RawClient.connect(b.port, { protocolVersion: 5 });
    const c = await RawClient.connect(b.port, { protocolVersion: 5 });
    c.publish('a', 'x', 0);
    assert.equal((await c.expect(PacketType.DISCONNECT)).reasonCode, 0x83);
    await c.expectClose();
    bystander.send({ type: PacketType.PINGREQ });
    await bystander.expect(PacketType.PINGRESP);
    await bystander.end();
  });
});
