// `$SYS/broker/...` end to end: with sysInterval 1, retained values for every counter, updated
// as the broker works; `$` topics kept from `#` subscribers [MQTT-4.7.2-1]; nothing at all with
// sysInterval 0; and clients cannot publish into `$SYS`.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { PacketType } from '../../src/protocol/index.js';
import { connectClient, RawClient, startBroker, within, type TestBroker, type TestClient, uid } from './harness.js';

const BOUND = { timeout: 15_000 };
/** A value published at sysInterval 1 shows within this long after what changed it. */
const UPDATE_MS = 2500;

const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;


/** The `$SYS/broker/` topics the broker publishes, by their short name. */
const TOPICS = [
  'version', 'uptime', 'clients/connected', 'clients/total', 'messages/received', 'messages/sent',
  'bytes/received', 'bytes/sent', 'subscriptions/count', 'retained messages/count',
] as const;
type Name = (typeof TOPICS)[number];

/** A client subscribed to `$SYS/broker/#`, keeping the last value of each topic. */
interface SysWatch {
  client: TestClient;
  value(name: Name): string | undefined;
  num(name: Name): number;
  /** Updates received per topic (the retained one on subscribing included). */
  updates(name: Name): number;
  retained: Set<string>;
  /** Resolves once `ready()` holds after some message, bounded by `ms`. */
  waitFor(ready: () => boolean, what: string, ms?: number): Promise<void>;
}

async function watchSys(url: string): Promise<SysWatch> {
  const client = await connectClient(url, 5);
  const values = new Map<string, string>();
  const counts = new Map<string, number>();
  const retained = new Set<string>();
  client.client.on('message', (topic, payload, packet) => {
    const name = topic.slice('$SYS/broker/'.length);
    values.set(name, payload.toString());
    counts.set(name, (counts.get(name) ?? 0) + 1);
    if (packet.retain) retained.add(name);
  });
  await within(client.client.subscribeAsync('$SYS/broker/#', { qos: 0 }), 'the $SYS SUBACK');
  const watch: SysWatch = {
    client,
    retained,
    value: (name) => values.get(name),
    num: (name) => Number.parseInt(values.get(name) ?? '', 10), // uptime is "N seconds"
    updates: (name) => counts.get(name) ?? 0,
    waitFor(ready, what, ms = UPDATE_MS) {
      if (ready()) return Promise.resolve();
      let check: (() => void) | undefined;
      return within(new Promise<void>((resolve) => {
        check = () => {
          if (ready()) resolve();
        };
        client.client.on('message', check);
      }), what, ms).catch((err: Error) => {
        throw new Error(`${err.message}; last values ${JSON.stringify(Object.fromEntries(values))}`);
      }).finally(() => client.client.off('message', check!));
    },
  };
  return watch;
}

/** What an MQTT.js client receives before a marker it publishes to itself. */
async function drainUntilMarker(c: TestClient): Promise<{ topic: string; payload: string }[]> {
  const topic = uid('zz-marker/');
  await within(c.client.subscribeAsync(topic, { qos: 0 }), 'the marker SUBACK');
  await within(c.client.publishAsync(topic, 'marker', { qos: 0 }), 'the marker publish');
  const out: { topic: string; payload: string }[] = [];
  for (;;) {
    const m = await c.nextMessage();
    if (m.topic === topic) return out;
    out.push({ topic: m.topic, payload: m.payload });
  }
}

describe('$SYS topics with sysInterval: 1', () => {
  let b: TestBroker;
  before(async () => { b = await startBroker({ sysInterval: 1 }); });
  after(async () => { await b.close(); });

  test('a subscriber to $SYS/broker/# gets a retained value for every counter', BOUND, async () => {
    const w = await watchSys(b.url);
    await w.waitFor(() => TOPICS.every((t) => w.value(t) !== undefined), 'every $SYS value');
    for (const t of TOPICS) assert.ok(w.retained.has(t), `${t} arrives as a retained message`);
    assert.equal(w.value('version'), `petrel ${PACKAGE_VERSION}`);
    assert.match(w.value('version')!, /^petrel \d+\.\d+\.\d+/);
    assert.match(w.value('uptime')!, /^\d+ seconds$/);
    for (const t of TOPICS.slice(2)) assert.match(w.value(t)!, /^\d+$/, `${t} is a count`);
    await w.client.end();
  });

  test('the values follow what happens: clients, subscriptions, messages, bytes, retained messages, uptime', BOUND, async () => {
    const w = await watchSys(b.url);
    // Only the watcher is connected, with its one subscription, once the values have caught up.
    await w.waitFor(() => w.value('clients/connected') === '1' && w.value('subscriptions/count') === '1', 'only the watcher counted');
    // One more update after that: every value is now as of a moment after the line above.
    const ticks = w.updates('uptime');
    await w.waitFor(() => w.updates('uptime') > ticks, 'the next uptime update');
    const base = Object.fromEntries(TOPICS.slice(1).map((t) => [t, w.num(t)])) as Record<Name, number>;
    assert.ok(base['clients/total'] >= 1);

    const clientId = uid('sys-active');
    const active = await connectClient(b.url, 5, { clientId, clean: false, properties: { sessionExpiryInterval: 60 } });
    const topic = uid('sys/');
    await active.client.subscribeAsync(topic, { qos: 1 });
    await active.client.subscribeAsync(uid('sys-other/'), { qos: 0 });
    for (let i = 0; i < 5; i++) await active.client.publishAsync(topic, 'x'.repeat(100), { qos: 1 });
    const retainedTopic = uid('sys-retained/');
    await active.client.publishAsync(retainedTopic, 'kept', { qos: 1, retain: true });
    for (let i = 0; i < 5; i++) await active.nextMessage();
    await w.waitFor(() =>
      w.value('clients/connected') === '2' &&
      w.num('clients/total') === base['clients/total'] + 1 &&
      w.value('subscriptions/count') === '3' &&
      w.num('messages/received') === base['messages/received'] + 6 &&
      w.num('messages/sent') >= base['messages/sent'] + 5 &&
      w.num('bytes/received') >= base['bytes/received'] + 5 * 100 &&
      w.num('bytes/sent') >= base['bytes/sent'] + 5 * 100 &&
      w.num('retained messages/count') === base['retained messages/count'] + 1 &&
      w.num('uptime') > base.uptime,
    'the values to reflect a new client, 2 subscriptions, 6 messages in, 5 out and a retained message');

    // It leaves, its session kept: connected goes down, total (sessions) and subscriptions stay.
    await active.end();
    await w.waitFor(() => w.value('clients/connected') === '1', 'clients/connected back to 1');
    assert.equal(w.num('clients/total'), base['clients/total'] + 1);
    assert.equal(w.value('subscriptions/count'), '3');
    // Clearing the retained message counts down.
    const cleaner = await connectClient(b.url, 5);
    await cleaner.client.publishAsync(retainedTopic, '', { qos: 1, retain: true });
    await w.waitFor(() => w.num('retained messages/count') === base['retained messages/count'], 'the retained count back down');
    await Promise.all([cleaner.end(), w.client.end()]);
  });

  test('a subscriber to `#` or `+/broker/#` gets no $SYS topic [MQTT-4.7.2-1]', BOUND, async () => {
    const all = await connectClient(b.url, 4);
    await all.client.subscribeAsync('#', { qos: 0 });
    await all.client.subscribeAsync('+/broker/#', { qos: 0 });
    // Wait for a $SYS update published after those subscriptions (the first one is the retained copy).
    const w = await watchSys(b.url);
    await w.waitFor(() => w.updates('uptime') >= 2, 'a live uptime update');
    const got = await drainUntilMarker(all);
    assert.deepEqual(got.filter((g) => g.topic.startsWith('$')), []);
    // The same update did reach a `$SYS/...` subscriber.
    assert.match(w.value('uptime')!, /^\d+ seconds$/);
    await Promise.all([all.end(), w.client.end()]);
  });

  test('a client cannot publish to $SYS: v5 PUBACK / PUBREC 0x87, and $SYS subscribers never see it', BOUND, async () => {
    const w = await watchSys(b.url);
    await w.waitFor(() => w.value('version') !== undefined, 'the retained version');
    const sysAll = await connectClient(b.url, 5);
    await sysAll.client.subscribeAsync('$SYS/#', { qos: 2 });
    const marker = uid('sys-marker/');
    await sysAll.client.subscribeAsync(marker, { qos: 1 });

    const v5 = await RawClient.connect(b.port, { protocolVersion: 5 });
    v5.publish('$SYS/broker/version', 'forged', 1, { packetId: 1 });
    const puback = await v5.expect(PacketType.PUBACK);
    assert.deepEqual([puback.packetId, puback.reasonCode], [1, 0x87]);
    v5.publish('$SYS/forged', 'forged', 2, { packetId: 2 });
    const pubrec = await v5.expect(PacketType.PUBREC);
    assert.deepEqual([pubrec.packetId, pubrec.reasonCode], [2, 0x87]);
    v5.publish('$SYS/broker/uptime', 'forged', 0);
    v5.publish('$SYS/broker/clients/connected', 'forged', 1, { packetId: 3, retain: true });
    assert.equal((await v5.expect(PacketType.PUBACK)).reasonCode, 0x87);
    // 3.1.1 has no way to say no: acknowledged and dropped (3.1.1 section 3.3.5).
    const v4 = await RawClient.connect(b.port, { protocolVersion: 4 });
    v4.publish('$SYS/broker/version', 'forged', 1, { packetId: 1, retain: true });
    assert.equal((await v4.expect(PacketType.PUBACK)).packetId, 1);
    // Sent after all of the above on the same connection: had any been routed, it came first.
    v4.publish(marker, 'marker', 1, { packetId: 2 });
    await v4.expect(PacketType.PUBACK);

    const seen: string[] = [];
    for (;;) {
      const m = await sysAll.nextMessage();
      if (m.topic === marker) break;
      seen.push(`${m.topic}=${m.payload}`);
    }
    assert.deepEqual(seen.filter((s) => s.endsWith('=forged')), []);
    assert.ok(seen.some((s) => s.startsWith('$SYS/broker/version=petrel ')), 'the real version came with the $SYS/# subscription');
    assert.notEqual(w.value('version'), 'forged');
    assert.notEqual(w.value('clients/connected'), 'forged');
    // The retained values are the broker's own.
    const fresh = await watchSys(b.url);
    await fresh.waitFor(() => fresh.value('version') !== undefined && fresh.value('clients/connected') !== undefined, 'the retained values');
    assert.equal(fresh.value('version'), `petrel ${PACKAGE_VERSION}`);
    assert.match(fresh.value('clients/connected')!, /^\d+$/);
    await Promise.all([w.client.end(), sysAll.end(), fresh.client.end(), v5.end(), v4.end()]);
  });
});

describe('$SYS topics with sysInterval: 0', () => {
  let b: TestBroker;
  before(async () => { b = await startBroker({ sysInterval: 0 }); });
  after(async () => { await b.close(); });

  test('nothing is published under $SYS, retained or live', BOUND, async () => {
    const c = await connectClient(b.url, 5);
    await c.client.subscribeAsync('$SYS/#', { qos: 0 });
    const pub = await connectClient(b.url, 4);
    await pub.client.publishAsync(uid('activity/'), 'x', { qos: 1 });
    // Nothing can be awaited for "never": give an interval of 1 s time to show, then check.
    await delay(1100);
    assert.deepEqual(await drainUntilMarker(c), []);
    await Promise.all([c.end(), pub.end()]);
  });
});
