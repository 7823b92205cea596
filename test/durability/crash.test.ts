// Nothing acknowledged is lost: a real broker process on a real data directory is killed with
// SIGKILL at seeded points while a publisher streams QoS 1 and QoS 2 messages to persistent
// subscribers (one online, one offline), then started again on the same directory. Every
// message acknowledged to the publisher must reach every persistent subscriber: QoS 1 at least
// once, QoS 2 exactly once. Retained messages and sessions survive; expired sessions do not.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { PacketType, type ProtocolVersion } from '../../src/protocol/index.js';
import { RawClient } from '../e2e/harness.js';
import { startBrokerProcess } from './broker-process.js';

const root = mkdtempSync(join(tmpdir(), 'petrel-crash-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A small seeded generator, so a failing seed can be replayed. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** A persistent subscriber that follows the receiver's side of QoS 1 and QoS 2. */
class Subscriber {
  readonly counts = new Map<string, number>();
  /** QoS 2 packet ids it answered with PUBREC and has not seen PUBREL for: re-sends of those are not new. */
  private readonly awaitingRelease = new Set<number>();
  private changed: (() => void) | undefined;

  constructor(readonly clientId: string, readonly version: ProtocolVersion) {}

  /** Connects (and subscribes, if asked) before it starts reading messages. */
  async connect(port: number, subscribe?: string): Promise<{ client: RawClient; present: boolean }> {
    const client = await RawClient.open(port, this.version);
    client.send({
      type: PacketType.CONNECT, protocolVersion: this.version, clean: false, keepAlive: 0, clientId: this.clientId,
      properties: this.version === 5 ? { sessionExpiryInterval: 3600 } : undefined,
    });
    const connack = await client.expect(PacketType.CONNACK);
    assert.equal(connack.reasonCode, 0);
    if (subscribe !== undefined) await client.subscribe(subscribe, 2);
    void this.consume(client);
    return { client, present: connack.sessionPresent };
  }

  private async consume(client: RawClient): Promise<void> {
    for (;;) {
      let p;
      try {
        p = await client.next('a packet', 60_000);
      } catch {
        return; // the connection closed (the broker was killed, or the test ended it)
      }
      if (p.type === PacketType.PUBLISH) {
        const key = p.payload.toString();
        if (p.qos === 1) client.send({ type: PacketType.PUBACK, packetId: p.packetId, reasonCode: 0 });
        if (p.qos === 2) {
          client.send({ type: PacketType.PUBREC, packetId: p.packetId, reasonCode: 0 });
          if (this.awaitingRelease.has(p.packetId)) continue; // [MQTT-4.3.3-10]: not a new message
          this.awaitingRelease.add(p.packetId);
        }
        this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
        this.changed?.();
      } else if (p.type === PacketType.PUBREL) {
        this.awaitingRelease.delete(p.packetId);
        client.send({ type: PacketType.PUBCOMP, packetId: p.packetId, reasonCode: 0 });
      }
    }
  }

  /** Resolves once every key has arrived; the error names what is missing. */
  waitFor(keys: Iterable<string>, ms: number): Promise<void> {
    const wanted = [...keys];
    const missing = (): string[] => wanted.filter((k) => !this.counts.has(k));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.changed = undefined;
        const m = missing();
        reject(new Error(`${this.clientId} is missing ${m.length} of ${wanted.length} messages after ${ms} ms: ${m.slice(0, 10).join(' ')}`));
      }, ms);
      const check = (): void => {
        if (missing().length > 0) return;
        clearTimeout(timer);
        this.changed = undefined;
        resolve();
      };
      this.changed = check;
      check();
    });
  }
}

interface Pending { key: string; qos: 1 | 2; state: 'sent' | 'pubrec' }

/** A persistent publisher that keeps its side of every exchange across broker restarts. */
class Publisher {
  readonly acknowledged = new Set<string>();
  readonly completed = new Set<string>();
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  next = 0;

  constructor(readonly clientId: string, readonly total: number, readonly window: number) {}

  async connect(port: number): Promise<{ client: RawClient; present: boolean }> {
    const client = await RawClient.open(port, 4);
    client.send({ type: PacketType.CONNECT, protocolVersion: 4, clean: false, keepAlive: 0, clientId: this.clientId });
    const connack = await client.expect(PacketType.CONNACK);
    // Resume: re-send what the broker never acknowledged, with DUP; re-send PUBREL where PUBREC came [MQTT-4.4.0-1].
    for (const [packetId, p] of this.pending) {
      if (p.state === 'sent') client.publish(`crash/${p.qos}`, p.key, p.qos, { packetId, dup: true });
      else client.send({ type: PacketType.PUBREL, packetId, reasonCode: 0 });
    }
    return { client, present: connack.sessionPresent };
  }

  /** Publishes until all `total` messages are complete, or the connection dies. `onAck` may kill the broker. */
  async run(client: RawClient, onAck: (acked: number) => void): Promise<boolean> {
    for (;;) {
      while (this.pending.size < this.window && this.next < this.total) {
        const i = this.next++;
        const qos = (i % 2 === 0 ? 1 : 2) as 1 | 2;
        const key = `m${i}-q${qos}`;
        const packetId = this.nextId;
        this.nextId = this.nextId === 65535 ? 1 : this.nextId + 1;
        this.pending.set(packetId, { key, qos, state: 'sent' });
        client.publish(`crash/${qos}`, key, qos, { packetId });
      }
      if (this.pending.size === 0) return true;
      let p;
      try {
        p = await client.next('an acknowledgement', 20_000);
      } catch {
        return false;
      }
      const entry = p.type === PacketType.PUBACK || p.type === PacketType.PUBREC || p.type === PacketType.PUBCOMP
        ? this.pending.get(p.packetId) : undefined;
      if (entry === undefined) continue;
      if (p.type === PacketType.PUBACK || p.type === PacketType.PUBREC) {
        this.acknowledged.add(entry.key);
        onAck(this.acknowledged.size);
      }
      if (p.type === PacketType.PUBACK || p.type === PacketType.PUBCOMP) {
        this.pending.delete(p.packetId);
        this.completed.add(entry.key);
      } else if (p.type === PacketType.PUBREC) {
        entry.state = 'pubrec';
        client.send({ type: PacketType.PUBREL, packetId: p.packetId, reasonCode: 0 });
      }
    }
  }
}

const SEEDS = [1, 2, 3, 4];
/** For checking the test itself: PETREL_CRASH_ARGS='--durability batched' must make it fail. */
const EXTRA = (process.env.PETREL_CRASH_ARGS ?? '').split(' ').filter((a) => a !== '');

for (const seed of SEEDS) {
  test(`SIGKILL at a seeded point (seed ${seed}): every acknowledged message reaches every persistent subscriber`, { timeout: 60_000 }, async () => {
    const rnd = random(seed);
    const dataDir = join(root, `seed-${seed}`);
    let broker = await startBrokerProcess(dataDir, EXTRA);
    try {
      // An offline persistent subscriber (3.1.1), an online one (v5), a short-lived v5 session.
      const offline = new Subscriber('sub-offline', 4);
      const first = await offline.connect(broker.port, 'crash/#');
      assert.equal(first.present, false);
      first.client.send({ type: PacketType.DISCONNECT, reasonCode: 0 });
      await first.client.closedPromise;

      const online = new Subscriber('sub-online', 5);
      await online.connect(broker.port, 'crash/#');

      const short = await RawClient.connect(broker.port, { protocolVersion: 5, clientId: 'short-lived', clean: false, properties: { sessionExpiryInterval: 1 } });
      await short.subscribe('crash/#', 1);
      short.send({ type: PacketType.DISCONNECT, reasonCode: 0 });
      await short.closedPromise;
      const shortGoneAt = Date.now() + 1000;

      const retainer = await RawClient.connect(broker.port, { clientId: 'retainer' });
      retainer.publish('kept/a', 'retained-a', 1, { packetId: 1, retain: true });
      await retainer.expect(PacketType.PUBACK);
      await retainer.end();

      // Stream messages; kill the broker after a seeded number of acknowledgements, mid-stream:
      // publishes, deliveries and QoS 2 handshakes are all under way at that moment.
      const publisher = new Publisher('publisher', 400, 4 + Math.floor(rnd() * 60));
      const killAt = 10 + Math.floor(rnd() * 200);
      let killing: Promise<void> | undefined;
      const pub = await publisher.connect(broker.port);
      const finished = await publisher.run(pub.client, (acked) => {
      if (acked >= killAt && killing === undefined) killing = broker.kill();
      });
      assert.equal(finished, false, 'the broker was killed mid-stream');
      await killing;
      const ackedBeforeCrash = new Set(publisher.acknowledged);

      // Same directory, new process: sessions resume, the publisher finishes its stream.
      broker = await startBrokerProcess(dataDir, EXTRA);
      assert.match(broker.output(), /restored \d+ sessions/);
      const resumed = await publisher.connect(broker.port);
      assert.equal(resumed.present, true, 'the publisher session survived');
      assert.equal(await publisher.run(resumed.client, () => undefined), true);
      assert.equal(publisher.completed.size, publisher.total);

      const back = await online.connect(broker.port);
      assert.equal(back.present, true, 'the online subscriber session survived');
      const offBack = await offline.connect(broker.port);
      assert.equal(offBack.present, true, 'the offline subscriber session survived');
      const everything = [...publisher.completed];
      try {
        await online.waitFor(everything, 20_000);
        await offline.waitFor(everything, 20_000);
      } catch (err) {
        throw new Error(`${(err as Error).message}\nbroker output:\n${broker.output()}`);
      }

      for (const sub of [online, offline]) {
        for (const key of ackedBeforeCrash) assert.ok(sub.counts.has(key), `${sub.clientId} lost acknowledged ${key}`);
        for (const [key, n] of sub.counts) {
          // QoS 2: exactly once, across the crash and the publisher's DUP re-sends.
          if (key.endsWith('q2')) assert.equal(n, 1, `${sub.clientId} got QoS 2 ${key} ${n} times`);
        }
      }

      const reader = await RawClient.connect(broker.port, { clientId: 'reader' });
      await reader.subscribe('kept/#', 1);
      const r = await reader.expect(PacketType.PUBLISH);
      assert.deepEqual([r.topic, r.payload.toString(), r.retain], ['kept/a', 'retained-a', true]);

      // The short-lived session (expiry 1 s) must be gone, even though the broker was down meanwhile.
      const wait = shortGoneAt + 200 - Date.now();
      if (wait > 0) await new Promise((res) => setTimeout(res, wait));
      const shortAgain = await RawClient.open(broker.port, 5);
      shortAgain.send({ type: PacketType.CONNECT, protocolVersion: 5, clean: false, keepAlive: 0, clientId: 'short-lived', properties: { sessionExpiryInterval: 1 } });
      assert.equal((await shortAgain.expect(PacketType.CONNACK)).sessionPresent, false);
      for (const c of [resumed.client, back.client, offBack.client, reader, shortAgain]) c.destroy();
      assert.equal(await broker.stop(), 0);
    } finally {
      await broker.kill();
    }
  });
}
