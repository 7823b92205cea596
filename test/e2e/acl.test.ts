// Authorization by ACL through the broker: publish, subscribe and every delivery (live, retained,
// queued), `$SYS`, wills, %c patterns, and a reload that takes effect on open connections.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { PacketType } from '../../src/protocol/index.js';
import { clientsEndedAfterEach, drainUntilMarker, startBroker, uid, type TestBroker } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'petrel-acl-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const fixture = (name: string): string => fileURLToPath(new URL(`../../../test/auth/fixtures/${name}`, import.meta.url));
const opened = clientsEndedAfterEach();

const ALICE = { username: 'alice', password: 'correct horse battery staple' };
const BOB = { username: 'bob', password: 'p@ss:wörd' };
const raw = (b: TestBroker, who: typeof ALICE, version: 4 | 5 = 5, clientId = uid('acl-')) =>
  opened.raw(b.port, { protocolVersion: version, clientId, username: who.username, password: Buffer.from(who.password) });

// Every client may talk to itself under markers/ (drainUntilMarker needs it).
const BASE_ACL = [
  'user alice',
  'topic readwrite alice/#',
  'topic read public/#',
  'topic deny public/secret',
  'user bob',
  'topic write public/#',
  'topic write alice/inbox',
  'pattern readwrite clients/%c/#',
  'pattern readwrite zz-marker/#',
  'pattern deny private/#',
  '',
].join('\n');

describe('ACL', () => {
  let b: TestBroker;
  let aclPath: string;
  before(async () => {
    aclPath = join(dir, 'acl');
    writeFileSync(aclPath, BASE_ACL);
    b = await startBroker({ auth: { passwordFile: fixture('mosquitto-passwd.txt'), aclFile: aclPath } });
  });
  after(() => b.close());

  test('PUBLISH without write access: v5 PUBACK 0x87 and PUBREC 0x87, and nobody gets it', async () => {
    const alice = await opened.js(b.url, 5, ALICE);
    await alice.client.subscribeAsync('alice/#', { qos: 1 });
    const bob = await raw(b, BOB);
    bob.publish('alice/private', 'no', 1, { packetId: 7 });
    assert.deepEqual(await bob.expect(PacketType.PUBACK), { type: PacketType.PUBACK, packetId: 7, reasonCode: 0x87 });
    bob.publish('alice/private', 'no', 2, { packetId: 8 });
    assert.equal((await bob.expect(PacketType.PUBREC)).reasonCode, 0x87);
    bob.publish('alice/inbox', 'yes', 1, { packetId: 9 });
    assert.equal((await bob.expect(PacketType.PUBACK)).reasonCode, 0);
    assert.deepEqual((await drainUntilMarker(alice)).map((m) => m.payload), ['yes']);
  });

  test('PUBLISH without write access from 3.1.1: acknowledged as the spec has it, and dropped', async () => {
    const alice = await opened.js(b.url, 4, ALICE);
    await alice.client.subscribeAsync('alice/#', { qos: 1 });
    const bob = await raw(b, BOB, 4);
    bob.publish('alice/private', 'no', 1, { packetId: 3 });
    assert.equal((await bob.expect(PacketType.PUBACK)).packetId, 3);
    bob.publish('alice/inbox', 'yes', 1, { packetId: 4 });
    await bob.expect(PacketType.PUBACK);
    assert.deepEqual((await drainUntilMarker(alice)).map((m) => m.payload), ['yes']);
  });

  test('SUBSCRIBE without read access: v5 0x87, 3.1.1 0x80, next to filters that are allowed', async () => {
    const v5 = await raw(b, ALICE);
    v5.send({
      type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: ['bob/#', 'public/#', 'alice/x', '#'].map((filter) => ({
        filter, qos: 1 as const, noLocal: false, retainAsPublished: false, retainHandling: 0 as const,
      })),
    });
    assert.deepEqual((await v5.expect(PacketType.SUBACK)).reasonCodes, [0x87, 1, 1, 0x87]);
    const v4 = await raw(b, ALICE, 4);
    assert.deepEqual(await v4.subscribe('bob/#', 1), [0x80]);
    assert.deepEqual(await v4.subscribe('public/+', 1), [1]);
  });

  test('$SYS is readable only where a rule names it', async () => {
    const alice = await raw(b, ALICE);
    assert.deepEqual(await alice.subscribe('$SYS/#', 0), [0x87]);
  });

  test('every delivery is checked: a deny inside an allowed subscription holds, for live and retained messages', async () => {
    const bob = await opened.js(b.url, 5, BOB);
    const topic = uid('public/r');
    await bob.client.publishAsync(topic, 'retained ok', { qos: 1, retain: true });
    await bob.client.publishAsync('public/secret', 'retained secret', { qos: 1, retain: true });
    const alice = await opened.js(b.url, 5, ALICE);
    await alice.client.subscribeAsync('public/#', { qos: 1 });
    await bob.client.publishAsync('public/secret', 'live secret', { qos: 1 });
    await bob.client.publishAsync('public/news', 'live news', { qos: 1 });
    const got = (await drainUntilMarker(alice)).map((m) => m.payload);
    assert.ok(got.includes('retained ok') && got.includes('live news'), got.join());
    assert.ok(!got.some((p) => p.includes('secret')), got.join());
  });

  test('%c patterns: a client may use its own subtree, not another client’s', async () => {
    const bob = await raw(b, BOB, 5, 'dev1');
    assert.deepEqual(await bob.subscribe('clients/dev1/#', 1), [1]);
    assert.deepEqual(await bob.subscribe('clients/dev2/#', 1, 2), [0x87]);
  });

  test('a will the client may not publish refuses the CONNECT with 0x87', async () => {
    const c = await opened.rawOpen(b.port, 5);
    c.send({
      type: PacketType.CONNECT, protocolVersion: 5, clean: true, keepAlive: 0, clientId: uid('will-'),
      username: BOB.username, password: Buffer.from(BOB.password),
      will: { topic: 'alice/private', payload: Buffer.from('gone'), qos: 0, retain: false },
    });
    assert.equal((await c.expect(PacketType.CONNACK)).reasonCode, 0x87);
  });

  test('a reload applies to open connections and to queued messages; a broken file keeps the old rules', async () => {
    const id = uid('alice-persistent-');
    const alice = await opened.js(b.url, 5, { ...ALICE, clientId: id, clean: false, properties: { sessionExpiryInterval: 60 } });
    await alice.client.subscribeAsync('alice/#', { qos: 1 });
    await alice.client.subscribeAsync('public/#', { qos: 1 });
    await alice.end();
    const bob = await opened.js(b.url, 5, BOB);
    await bob.client.publishAsync('alice/inbox', 'queued before the reload', { qos: 1 });

    // alice loses read on alice/# and public/#; the queued message must not reach her now.
    writeFileSync(aclPath, BASE_ACL.replace('topic readwrite alice/#', 'topic write alice/#').replace('topic read public/#', ''));
    const report = await b.broker.reload();
    assert.ok(report.some((l) => /ACL .*rules/.test(l)), report.join('\n'));
    const back = await opened.js(b.url, 5, { ...ALICE, clientId: id, clean: false, properties: { sessionExpiryInterval: 60 } });
    assert.equal(back.connack.sessionPresent, true);
    await bob.client.publishAsync('public/news', 'after the reload', { qos: 1 });
    assert.deepEqual(await drainUntilMarker(back), []);

    writeFileSync(aclPath, 'topic bogus-access word\nnonsense\n');
    const failed = await b.broker.reload();
    assert.ok(failed.some((l) => /not reloaded, the old ones stay: .*acl:1: unknown access/.test(l)), failed.join('\n'));
    await bob.client.publishAsync('public/news', 'still refused', { qos: 1 });
    assert.deepEqual(await drainUntilMarker(back), []);
    writeFileSync(aclPath, BASE_ACL);
    await b.broker.reload();
  });
});

test('the library authorizeSubscribe hook chains after the ACL: both must allow', async () => {
  const b = await startBroker({
    auth: { acl: [{ pattern: true, access: 'readwrite', topic: '#' }] },
    hooks: { authorizeSubscribe: (ctx) => ctx.filter !== 'hook/denied' },
  });
  try {
    const c = await opened.raw(b.port, { protocolVersion: 5, clientId: uid('chain-') });
    assert.deepEqual(await c.subscribe('hook/allowed', 0), [0]);
    assert.deepEqual(await c.subscribe('hook/denied', 0, 2), [0x87]);
  } finally {
    await b.close();
  }
});

test('a Mosquitto acl_file works as it is: anonymous lines, user blocks, deny, %c patterns', async () => {
  // No password file: user names are taken as given, so the file's user blocks can be exercised.
  const b = await startBroker({ auth: { aclFile: fixture('acl-mosquitto.acl') } });
  try {
    const display = await opened.raw(b.port, { protocolVersion: 5, clientId: 'wall-1' });
    assert.deepEqual(await display.subscribe('status/#', 0), [0]);
    assert.deepEqual(await display.subscribe('plant/#', 0, 2), [0x87]);
    const operator = await opened.raw(b.port, { protocolVersion: 5, clientId: uid('op-'), username: 'operator' });
    operator.publish('plant/hall1/valve', 'open', 1, { packetId: 1 });
    assert.equal((await operator.expect(PacketType.PUBACK)).reasonCode, 0x10, 'accepted (0x10: nobody subscribed)');
    operator.publish('plant/safety/override', 'on', 1, { packetId: 2 });
    assert.equal((await operator.expect(PacketType.PUBACK)).reasonCode, 0x87);
    const device = await opened.raw(b.port, { protocolVersion: 5, clientId: 'dev7' });
    assert.deepEqual(await device.subscribe('devices/dev7/cmd/#', 1), [1]);
    assert.deepEqual(await device.subscribe('devices/dev8/cmd/#', 1, 2), [0x87]);
  } finally {
    await b.close();
  }
});
