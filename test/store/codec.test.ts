// The journal's record encoding: every operation reads back exactly as written, in order, with
// every shape of value the broker stores; damaged records are refused, not half-read.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RecordWriter, type StoreWrites } from '../../src/store/codec.js';
import { readRecord } from '../../src/store/codec-read.js';
import type { StoredMessage, StoredSession } from '../../src/store/store.js';

type Call = [string, ...unknown[]];

/** A sink that records each call with its arguments. */
function recorder(): { sink: StoreWrites; calls: Call[] } {
  const calls: Call[] = [];
  const sink = new Proxy({}, {
    get: (_t, name: string) => (...args: unknown[]) => { calls.push([name, ...args]); },
  }) as StoreWrites;
  return { sink, calls };
}

/** Writes the calls, reads them back, and checks they are the same. */
function roundTrip(calls: Call[]): Call[] {
  const w = new RecordWriter();
  for (const [name, ...args] of calls) (w as unknown as Record<string, (...a: unknown[]) => void>)[name](...args);
  const record = w.take();
  const { sink, calls: read } = recorder();
  readRecord(record, sink);
  assert.deepEqual(read, calls);
  return read;
}

const session: StoredSession = {
  clientId: 'c1', protocolVersion: 5, expiryInterval: 0xffffffff, expiresAt: 1_700_000_000_123, willAt: 0,
  will: { topic: 'w/ü', payload: Buffer.from([0, 255]), qos: 2, retain: true, properties: { willDelayInterval: 5, userProperties: [['k', 'v']] } },
};

const message: StoredMessage = {
  topic: 'a/b', payload: Buffer.from('hello'), qos: 1, retain: false, expiresAt: 0, origin: 'publisher-1',
};

test('every operation and value shape reads back as written, in order', () => {
  roundTrip([
    ['putSession', session],
    ['putSession', { clientId: 'c2', protocolVersion: 4, expiryInterval: 60, expiresAt: 0, willAt: 0 }],
    ['putSubscription', 'c1', 'a/+/#', {
      qos: 2, noLocal: true, retainAsPublished: false, retainHandling: 2, subscriptionId: 268_435_455, shared: false,
    }],
    ['putSubscription', 'c1', '$share/g/x', { qos: 0, noLocal: false, retainAsPublished: true, retainHandling: 0, shared: true }],
    ['deleteSubscription', 'c1', 'a/+/#'],
    ['putMessage', 1, message],
    ['putMessage', 2 ** 40 + 3, { topic: 'x', payload: Buffer.alloc(0), qos: 2, retain: true, expiresAt: 1_800_000_000_000 }],
    ['putMessage', 7, {
      topic: 'τ/🙂', payload: Buffer.alloc(70_000, 9), qos: 0, retain: false, expiresAt: 1.5,
      properties: {
        payloadFormatIndicator: 1, contentType: 'text/plain', responseTopic: 'r', correlationData: Buffer.from('cd'),
        userProperties: [['a', '1'], ['a', '2']], messageExpiryInterval: 60,
      },
    }],
    ['deleteMessage', 2 ** 40 + 3],
    ['putQueued', 'c1', 1, { messageId: 1, qos: 1, retain: false }],
    ['putQueued', 'c2', 2 ** 33, { messageId: 7, qos: 2, retain: true, subscriptionIds: [1, 300, 2 ** 28 - 1], shared: '$share/g/x' }],
    ['deleteQueued', 'c2', 2 ** 33],
    ['putInflight', 'c1', 65535, { awaiting: 'puback', delivery: { messageId: 1, qos: 1, retain: false } }],
    ['putInflight', 'c1', 1, { awaiting: 'pubrec', delivery: { messageId: 7, qos: 2, retain: true, subscriptionIds: [] } }],
    ['putInflight', 'c1', 2, { awaiting: 'pubcomp' }],
    ['deleteInflight', 'c1', 2],
    ['putAwaitingRelease', 'c2', 9],
    ['deleteAwaitingRelease', 'c2', 9],
    ['putRetained', 'a/b', 1],
    ['deleteRetained', 'a/b'],
    ['deleteSession', 'c2'],
  ]);
});

test('values read back are Buffers where Buffers were written', () => {
  const [[, read]] = roundTrip([['putSession', session]]) as [[string, StoredSession]];
  assert.ok(Buffer.isBuffer(read.will?.payload));
  const withProperties = { ...message, properties: { correlationData: Buffer.from('x') } };
  const [[, , m]] = roundTrip([['putMessage', 7, withProperties]]) as [[string, number, StoredMessage]];
  assert.ok(Buffer.isBuffer(m.payload));
  assert.ok(Buffer.isBuffer(m.properties?.correlationData));
});

test('a client id repeated by consecutive operations is written once', () => {
  const id = 'a-rather-long-client-identifier';
  const w = new RecordWriter();
  w.deleteInflight(id, 1);
  const once = w.take().length;
  for (let i = 0; i < 10; i++) w.deleteInflight(id, 1);
  assert.ok(w.take().length < once + 9 * 4, 'the repeats do not carry the client id');
  // Alternating clients: each change of client is written, and read back right.
  roundTrip([['deleteInflight', 'x', 1], ['deleteInflight', 'y', 2], ['deleteInflight', 'x', 3], ['deleteQueued', 'x', 4]]);
});

test('the writer starts afresh after take(), and grows past its first buffer', () => {
  const w = new RecordWriter();
  assert.equal(w.empty, true);
  w.putMessage(1, { ...message, payload: Buffer.alloc(200_000, 1) });
  w.deleteInflight('c', 1);
  const first = w.take();
  assert.equal(w.empty, true);
  w.deleteInflight('c', 2);
  const { sink, calls } = recorder();
  readRecord(w.take(), sink);
  // The client id is written again: "same as before" does not carry over to the next record.
  assert.deepEqual(calls, [['deleteInflight', 'c', 2]]);
  const { sink: s2, calls: c2 } = recorder();
  readRecord(first, s2);
  assert.equal((c2[0][2] as StoredMessage).payload.length, 200_000);
});

test('a damaged record is refused', () => {
  const w = new RecordWriter();
  w.putMessage(1, message);
  w.putQueued('c', 1, { messageId: 1, qos: 1, retain: false });
  const record = w.take();
  const { sink } = recorder();
  assert.throws(() => readRecord(record.subarray(0, record.length - 3), sink), /truncated/);
  const bad = Buffer.from(record);
  bad[0] = 200;
  assert.throws(() => readRecord(bad, sink), /unknown operation/);
});
