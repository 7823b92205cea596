// Recovery rules, on a memory store filled by hand: what expired while the broker was down is
// purged (sessions, queued and retained messages), due wills are published, orphans deleted.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Broker } from '../../src/index.js';
import { MemoryBackend } from '../../src/store/memory.js';
import { TableStore } from '../../src/store/table-store.js';
import type { StoredMessage } from '../../src/store/store.js';

const msg = (topic: string, expiresAt = 0, retain = false): StoredMessage => ({
  topic, payload: Buffer.from(topic), qos: 1, retain, expiresAt,
});

test('recovery purges what expired while down, publishes due wills, keeps the rest in order', async () => {
  const store = new TableStore(new MemoryBackend());
  const now = Date.now();
  // Session "gone" expired an hour ago; its delayed will (retained) is due.
  store.putSession({
    clientId: 'gone', protocolVersion: 5, expiryInterval: 60, expiresAt: now - 3_600_000, willAt: now - 3_600_000,
    will: { topic: 'status/gone', payload: Buffer.from('offline'), qos: 1, retain: true },
  });
  store.putSubscription('gone', 'x/#', { qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, shared: false });
  // Session "kept" expires tomorrow; its queue holds an expired message between two live ones.
  store.putSession({ clientId: 'kept', protocolVersion: 4, expiryInterval: 86_400 * 2, expiresAt: now + 86_400_000, willAt: 0 });
  store.putSubscription('kept', 'status/#', { qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, shared: false });
  store.putMessage(1, msg('q/first'));
  store.putMessage(2, msg('q/expired', now - 1000));
  store.putMessage(3, msg('q/last'));
  store.putQueued('kept', 1, { messageId: 1, qos: 1, retain: false });
  store.putQueued('kept', 2, { messageId: 2, qos: 1, retain: false });
  store.putQueued('kept', 3, { messageId: 3, qos: 1, retain: false });
  // A retained message that expired, one that did not, and a message nothing refers to.
  store.putMessage(4, msg('r/old', now - 1, true));
  store.putRetained('r/old', 4);
  store.putMessage(5, msg('r/new', 0, true));
  store.putRetained('r/new', 5);
  store.putMessage(6, msg('orphan'));
  await store.commit();

  const broker = new Broker({ store, sysInterval: 0 });
  await broker.ready;
  try {
    // Purged records: the expired queue entry and retained entry, and messages 2, 4 and 6.
    assert.deepEqual(broker.recovery, { sessions: 1, queued: 2, inflight: 0, retained: 1, purged: 5 });
    assert.equal(broker.registry.get('gone'), undefined);
    // The will went out: retained, and queued for "kept", which subscribes to status/#.
    assert.equal(broker.retained.get('status/gone')?.payload.toString(), 'offline');
    const kept = broker.registry.get('kept')!;
    assert.deepEqual(kept.queue.slice(kept.queueHead).map((d) => d.message.topic), ['q/first', 'q/last', 'status/gone']);
    assert.equal(broker.retained.get('r/old'), undefined);
    await store.commit();
    const s = await store.load();
    assert.deepEqual(s.sessions.map((x) => x.clientId), ['kept']);
    assert.deepEqual(s.subscriptions.map((x) => x.clientId), ['kept']);
    assert.deepEqual(s.queued.map((q) => q.seq), [1, 3, 4]);
    assert.deepEqual(s.retained.map((r) => r.topic).sort(), ['r/new', 'status/gone']);
    // Messages 2 (expired), 4 (expired retained) and 6 (orphan) are gone; the will is stored once.
    assert.deepEqual([...s.messages.keys()].filter((id) => id <= 6).sort(), [1, 3, 5]);
    assert.equal([...s.messages.values()].filter((m) => m.topic === 'status/gone').length, 1);
  } finally {
    await broker.close();
  }
});
