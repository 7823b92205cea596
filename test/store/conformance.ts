// One conformance suite for every Store: each backend must read back exactly what was written,
// in the same order, with sessions deleted as a whole.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Store, StoredMessage } from '../../src/store/store.js';

export interface StoreFixture {
  /** A fresh, empty store. */
  create(): Promise<Store>;
  /** Closes the store and opens the same data again; undefined for stores that do not persist. */
  reopen?(store: Store): Promise<Store>;
}

const message = (topic: string, extra: Partial<StoredMessage> = {}): StoredMessage => ({
  topic, payload: Buffer.from([0, 1, 2, 255]), qos: 1, retain: false, expiresAt: 0, ...extra,
});

export function storeConformance(name: string, fixture: StoreFixture): void {
  const withStore = (title: string, body: (store: Store) => Promise<void>): void => {
    test(`${name}: ${title}`, async () => {
      const store = await fixture.create();
      try {
        await body(store);
      } finally {
        await store.close();
      }
    });
  };

  withStore('a new store is empty', async (store) => {
    const state = await store.load();
    assert.deepEqual(state.sessions, []);
    assert.equal(state.messages.size, 0);
    assert.deepEqual(state.retained, []);
  });

  withStore('every record type reads back as written', async (store) => {
    store.putSession({ clientId: 'c1', protocolVersion: 5, expiryInterval: 60, expiresAt: 0, willAt: 0,
      will: { topic: 'w', payload: Buffer.from('bye'), qos: 1, retain: true, properties: { willDelayInterval: 5, userProperties: [['k', 'v']] } } });
    store.putSubscription('c1', 'a/+', { qos: 2, noLocal: true, retainAsPublished: false, retainHandling: 1, subscriptionId: 7, shared: false });
    store.putMessage(1, message('a/b', { properties: { correlationData: Buffer.from('cd'), userProperties: [['x', '1'], ['x', '2']] } }));
    store.putQueued('c1', 1, { messageId: 1, qos: 1, retain: false, subscriptionIds: [7] });
    store.putInflight('c1', 42, { awaiting: 'puback', delivery: { messageId: 1, qos: 1, retain: true, shared: '$share/g/a' } });
    store.putInflight('c1', 43, { awaiting: 'pubcomp' });
    store.putAwaitingRelease('c1', 9);
    store.putRetained('a/b', 1);
    await store.commit();
    const s = await store.load();
    assert.equal(s.sessions.length, 1);
    assert.equal(s.sessions[0].will?.payload.toString(), 'bye');
    assert.ok(Buffer.isBuffer(s.sessions[0].will?.payload));
    assert.deepEqual(s.sessions[0].will?.properties, { willDelayInterval: 5, userProperties: [['k', 'v']] });
    assert.deepEqual(s.subscriptions, [{ clientId: 'c1', filter: 'a/+', subscription: { qos: 2, noLocal: true, retainAsPublished: false, retainHandling: 1, subscriptionId: 7, shared: false } }]);
    const m = s.messages.get(1)!;
    assert.ok(Buffer.isBuffer(m.payload));
    assert.deepEqual([...m.payload], [0, 1, 2, 255]);
    assert.ok(Buffer.from(m.properties!.correlationData!).equals(Buffer.from('cd')));
    assert.deepEqual(m.properties!.userProperties, [['x', '1'], ['x', '2']]);
    assert.deepEqual(s.queued, [{ clientId: 'c1', seq: 1, delivery: { messageId: 1, qos: 1, retain: false, subscriptionIds: [7] } }]);
    assert.deepEqual(s.inflight.map((e) => [e.packetId, e.entry.awaiting]), [[42, 'puback'], [43, 'pubcomp']]);
    assert.equal(s.inflight[0].entry.delivery?.shared, '$share/g/a');
    assert.deepEqual(s.awaitingRelease, [{ clientId: 'c1', packetId: 9 }]);
    assert.deepEqual(s.retained, [{ topic: 'a/b', messageId: 1 }]);
  });

  withStore('queue entries come back in numeric order per session', async (store) => {
    for (const seq of [256, 2, 10, 1, 65536]) store.putQueued('c', seq, { messageId: seq, qos: 1, retain: false });
    store.putQueued('b', 5, { messageId: 5, qos: 1, retain: false });
    await store.commit();
    const s = await store.load();
    assert.deepEqual(s.queued.map((q) => `${q.clientId}:${q.seq}`), ['b:5', 'c:1', 'c:2', 'c:10', 'c:256', 'c:65536']);
  });

  withStore('deleting a session removes all of it and nothing of others', async (store) => {
    for (const id of ['a', 'ab', 'a b', 'b']) {
      store.putSession({ clientId: id, protocolVersion: 4, expiryInterval: 0xffffffff, expiresAt: 0, willAt: 0 });
      store.putSubscription(id, 't', { qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, shared: false });
      store.putQueued(id, 1, { messageId: 1, qos: 1, retain: false });
      store.putInflight(id, 1, { awaiting: 'pubrec', delivery: { messageId: 1, qos: 2, retain: false } });
      store.putAwaitingRelease(id, 1);
    }
    await store.commit();
    store.deleteSession('a');
    await store.commit();
    const s = await store.load();
    const ids = (l: { clientId: string }[]) => l.map((x) => x.clientId).sort();
    assert.deepEqual(s.sessions.map((x) => x.clientId).sort(), ['a b', 'ab', 'b']);
    assert.deepEqual(ids(s.subscriptions), ['a b', 'ab', 'b']);
    assert.deepEqual(ids(s.queued), ['a b', 'ab', 'b']);
    assert.deepEqual(ids(s.inflight), ['a b', 'ab', 'b']);
    assert.deepEqual(ids(s.awaitingRelease), ['a b', 'ab', 'b']);
  });

  withStore('deletes and overwrites of single records', async (store) => {
    store.putMessage(1, message('x'));
    store.putMessage(2, message('y'));
    store.putRetained('x', 1);
    store.putRetained('x', 2);
    store.putQueued('c', 1, { messageId: 1, qos: 1, retain: false });
    store.putInflight('c', 5, { awaiting: 'pubrec', delivery: { messageId: 2, qos: 2, retain: false } });
    store.putInflight('c', 5, { awaiting: 'pubcomp' });
    store.putAwaitingRelease('c', 3);
    store.putSubscription('c', 'f', { qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0, shared: false });
    await store.commit();
    store.deleteMessage(1);
    store.deleteQueued('c', 1);
    store.deleteAwaitingRelease('c', 3);
    store.deleteSubscription('c', 'f');
    store.deleteRetained('nothing-there');
    await store.commit();
    let s = await store.load();
    assert.deepEqual([...s.messages.keys()], [2]);
    assert.deepEqual(s.retained, [{ topic: 'x', messageId: 2 }]);
    assert.deepEqual(s.queued, []);
    assert.deepEqual(s.inflight.map((e) => e.entry), [{ awaiting: 'pubcomp' }]);
    assert.deepEqual(s.awaitingRelease, []);
    assert.deepEqual(s.subscriptions, []);
    store.deleteInflight('c', 5);
    store.deleteRetained('x');
    await store.commit();
    s = await store.load();
    assert.deepEqual(s.inflight, []);
    assert.deepEqual(s.retained, []);
  });

  withStore('writes of one turn share one commit; commit() with nothing pending resolves', async (store) => {
    assert.equal(store.dirty, false);
    await store.commit();
    store.putMessage(1, message('a'));
    assert.equal(store.dirty, true);
    const first = store.commit();
    store.putMessage(2, message('b'));
    assert.equal(store.commit(), first);
    await first;
    assert.equal(store.dirty, false);
    assert.equal((await store.load()).messages.size, 2);
  });

  withStore('within one batch, the last write of a record wins: put then delete, delete then put, put over put', async (store) => {
    store.putMessage(1, message('old'));
    store.putInflight('c', 1, { awaiting: 'puback', delivery: { messageId: 1, qos: 1, retain: false } });
    await store.commit();
    store.putMessage(2, message('acked-before-commit'));
    store.putInflight('c', 2, { awaiting: 'puback', delivery: { messageId: 2, qos: 1, retain: false } });
    store.deleteInflight('c', 2);
    store.deleteMessage(2);
    store.deleteMessage(1);
    store.putMessage(1, message('new'));
    store.putMessage(3, message('first'));
    store.putMessage(3, message('second'));
    store.deleteInflight('c', 1);
    await store.commit();
    const s = await store.load();
    assert.deepEqual([...s.messages.entries()].map(([id, m]) => [id, m.topic]), [[1, 'new'], [3, 'second']]);
    assert.deepEqual(s.inflight, []);
  });

  withStore('many writes in one turn', async (store) => {
    for (let i = 1; i <= 5000; i++) {
      store.putMessage(i, message(`t/${i}`));
      store.putQueued('c', i, { messageId: i, qos: 1, retain: false });
    }
    await store.commit();
    const s = await store.load();
    assert.equal(s.messages.size, 5000);
    assert.equal(s.queued.length, 5000);
    assert.equal(s.queued[4999].seq, 5000);
  });

  if (fixture.reopen !== undefined) {
    const reopen = fixture.reopen;
    test(`${name}: everything committed is there after closing and opening again`, async () => {
      let store = await fixture.create();
      store.putSession({ clientId: 'p', protocolVersion: 4, expiryInterval: 100, expiresAt: 123, willAt: 0 });
      store.putMessage(7, message('keep', { retain: true, qos: 2, expiresAt: 99 }));
      store.putRetained('keep', 7);
      await store.commit();
      store = await reopen(store);
      try {
        const s = await store.load();
        assert.equal(s.sessions[0].expiresAt, 123);
        assert.equal(s.messages.get(7)?.topic, 'keep');
        assert.equal(s.messages.get(7)?.expiresAt, 99);
        assert.deepEqual(s.retained, [{ topic: 'keep', messageId: 7 }]);
      } finally {
        await store.close();
      }
    });
  }
}
