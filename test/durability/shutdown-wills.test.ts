// Wills of clients cut off by a graceful shutdown: the server ended their connection, so their
// wills are published [MQTT-3.1.2-8] — at once, or, with a Will Delay Interval, when it runs
// out, even if that is after a restart.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Broker } from '../../src/index.js';
import { PacketType } from '../../src/protocol/index.js';
import { RawClient } from '../e2e/harness.js';

const dir = mkdtempSync(join(tmpdir(), 'petrel-shutdown-wills-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function start(dataDir: string): Promise<{ broker: Broker; port: number }> {
  const broker = new Broker({ dataDir, sysInterval: 0 });
  const { port } = await broker.listen({ port: 0, host: '127.0.0.1' });
  return { broker, port };
}

test('a shutdown publishes the wills of the clients it cuts off; a delayed one comes due after the restart', { timeout: 20_000 }, async () => {
  const dataDir = join(dir, 'store');
  const first = await start(dataDir);
  // An offline persistent subscriber to the wills.
  const sub = await RawClient.connect(first.port, { protocolVersion: 5, clientId: 'will-watcher', clean: false, properties: { sessionExpiryInterval: 300 } });
  assert.deepEqual(await sub.subscribe('wills/#', 1), [1]);
  await sub.end();

  const now = await RawClient.connect(first.port, {
    protocolVersion: 5, clientId: 'will-now', will: { topic: 'wills/now', payload: Buffer.from('gone'), qos: 1, retain: false },
  });
  const later = await RawClient.connect(first.port, {
    protocolVersion: 5, clientId: 'will-later', properties: { sessionExpiryInterval: 60 },
    will: { topic: 'wills/later', payload: Buffer.from('gone later'), qos: 1, retain: false, properties: { willDelayInterval: 1 } },
  });
  await first.broker.close();
  assert.equal((await now.expect(PacketType.DISCONNECT)).reasonCode, 0x8b);
  assert.equal((await later.expect(PacketType.DISCONNECT)).reasonCode, 0x8b);

  const second = await start(dataDir);
  try {
    const back = await RawClient.connect(second.port, { protocolVersion: 5, clientId: 'will-watcher', clean: false, properties: { sessionExpiryInterval: 300 } });
    const got: string[] = [];
    while (got.length < 2) {
      const p = await back.next('a will', 5000);
      if (p.type !== PacketType.PUBLISH) continue;
      got.push(`${p.topic}=${p.payload.toString()}`);
      back.send({ type: PacketType.PUBACK, packetId: p.packetId, reasonCode: 0 });
    }
    assert.deepEqual(got, ['wills/now=gone', 'wills/later=gone later']);
    back.destroy();
  } finally {
    await second.broker.close();
  }
});
