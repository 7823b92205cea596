// CONNECT and CONNACK end to end: protocol levels, client identifier rules, the v5 CONNACK
// properties, session takeover, the authenticate and enhancedAuth hooks, what happens to a
// connection that breaks the CONNECT rules, and the connect timeout. MQTT.js where a client
// library can say it, raw packets where it cannot.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { IConnackPacket, IDisconnectPacket, MqttClient } from 'mqtt';
import type { AuthenticateContext, EnhancedAuthContext, EnhancedAuthResult } from '../../src/index.js';
import {
  PacketType, type ConnackPacket, type ConnectPacket, type ProtocolVersion,
} from '../../src/protocol/index.js';
import { connectClient, RawClient, startBroker, within, type TestBroker } from './harness.js';

type ConnectFields = Partial<ConnectPacket> & { protocolVersion?: ProtocolVersion };

/** Opens a raw connection, sends CONNECT, and returns the client with the CONNACK it got (accepted or not). */
async function handshake(port: number, fields: ConnectFields = {}): Promise<{ c: RawClient; connack: ConnackPacket }> {
  const version = fields.protocolVersion ?? 4;
  const c = await RawClient.open(port, version);
  c.send({
    type: PacketType.CONNECT, protocolVersion: version, clean: true, keepAlive: 0,
    clientId: `raw-${Math.random().toString(36).slice(2)}`, ...fields,
  });
  return { c, connack: await c.expect(PacketType.CONNACK) };
}

function utf8(s: string): Buffer {
  const b = Buffer.from(s);
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
}

/** A CONNECT as bytes, for what the encoder will not write: any name, level and flags. */
function connectBytes(name: string, level: number, flags = 0x02, clientId = 'raw-bytes', withProperties = level >= 5): Buffer {
  const body = Buffer.concat([
    utf8(name), Buffer.from([level, flags, 0, 0]), withProperties ? Buffer.from([0]) : Buffer.alloc(0), utf8(clientId),
  ]);
  assert.ok(body.length < 128);
  return Buffer.concat([Buffer.from([0x10, body.length]), body]);
}

/** The CONNACK MQTT.js received (kept on a private field). */
function connackOf(client: MqttClient): IConnackPacket {
  return (client as unknown as { connackPacket: IConnackPacket }).connackPacket;
}

/** Resolves when the MQTT.js client's link closes. */
function closeOf(client: MqttClient): Promise<void> {
  return new Promise((resolve) => client.once('close', () => resolve()));
}

/** Asserts MQTT.js refuses to connect with this CONNACK code. */
async function refusedWith(url: string, version: 3 | 4 | 5, options: Parameters<typeof connectClient>[2], code: number): Promise<void> {
  await assert.rejects(connectClient(url, version, options), (err: Error & { code?: number }) => {
    assert.equal(err.code, code, `expected CONNACK code ${code}, got ${String(err.code)} (${err.message})`);
    return true;
  });
}

/** A bounded wait on the close event that must not fire: the link is still open after `ms`. */
async function staysOpen(c: RawClient, ms: number): Promise<void> {
  const closed = await Promise.race([c.closedPromise.then(() => true), delay(ms).then(() => false)]);
  assert.equal(closed, false, `the connection closed within ${ms} ms`);
}

/** A round trip: the link is up and the broker answers. */
async function ping(c: RawClient): Promise<void> {
  c.send({ type: PacketType.PINGREQ });
  await c.expect(PacketType.PINGRESP);
}

describe('CONNECT and CONNACK (default options)', () => {
  let b: TestBroker;
  before(async () => { b = await startBroker(); });
  after(async () => { await b.close(); });

  for (const version of [3, 4, 5] as const) {
    test(`v${version}: MQTT.js connects, CONNACK accepts with Session Present 0, and the link works`, async () => {
      const c = await connectClient(b.url, version, { clientId: `connect-ok-v${version}` });
      const connack = connackOf(c.client);
      assert.equal(version === 5 ? connack.reasonCode : connack.returnCode, 0);
      assert.equal(connack.sessionPresent, false);
      await within(c.client.subscribeAsync(`connect/ok/v${version}`, { qos: 1 }), 'SUBACK');
      await within(c.client.publishAsync(`connect/ok/v${version}`, 'hi', { qos: 1 }), 'the publish to complete');
      assert.equal((await c.nextMessage()).payload, 'hi');
      await c.end();
    });

    test(`v${version}: raw CONNECT gets CONNACK 0 in its own version's format`, async () => {
      const { c, connack } = await handshake(b.port, { protocolVersion: version, clientId: `raw-ok-v${version}` });
      assert.equal(connack.reasonCode, 0);
      assert.equal(connack.sessionPresent, false);
      if (version === 5) assert.ok(connack.properties !== undefined, 'v5 CONNACK carries properties');
      else assert.equal(connack.properties, undefined);
      await ping(c);
      await c.end();
    });
  }

  test('protocol level 6: CONNACK 0x84 in the v5 format, then close', async () => {
    const c = await RawClient.open(b.port, 5);
    c.send(connectBytes('MQTT', 6));
    const connack = await c.expect(PacketType.CONNACK);
    assert.equal(connack.reasonCode, 0x84);
    assert.equal(connack.sessionPresent, false);
    await c.expectClose();
  });

  for (const [name, level] of [['MQTT', 2], ['MQTT', 3], ['MQIsdp', 4]] as const) {
    test(`protocol name ${name} level ${level}: 3.x CONNACK 0x01, then close`, async () => {
      const c = await RawClient.open(b.port, 4);
      c.send(connectBytes(name, level));
      const connack = await c.expect(PacketType.CONNACK);
      assert.equal(connack.reasonCode, 0x01);
      assert.equal(connack.sessionPresent, false);
      assert.equal(connack.properties, undefined);
      await c.expectClose();
    });
  }

  test('v5 empty client id: MQTT.js gets an Assigned Client Identifier, a new one each time', async () => {
    const one = await connectClient(b.url, 5, { clientId: '' });
    const two = await connectClient(b.url, 5, { clientId: '' });
    const id1 = connackOf(one.client).properties?.assignedClientIdentifier;
    const id2 = connackOf(two.client).properties?.assignedClientIdentifier;
    assert.equal(typeof id1, 'string');
    assert.equal(typeof id2, 'string');
    assert.ok(id1!.length > 0);
    assert.notEqual(id1, id2);
    // Both work side by side: neither took the other over.
    await within(one.client.subscribeAsync('assigned/t', { qos: 1 }), 'SUBACK');
    await within(two.client.publishAsync('assigned/t', 'x', { qos: 1 }), 'the publish to complete');
    assert.equal((await one.nextMessage()).payload, 'x');
    await Promise.all([one.end(), two.end()]);
  });

  test('v5 empty client id with Clean Start 0 is assigned one too, and the session it names persists', async () => {
    const { c, connack } = await handshake(b.port, {
      protocolVersion: 5, clientId: '', clean: false, properties: { sessionExpiryInterval: 30 },
    });
    assert.equal(connack.reasonCode, 0);
    assert.equal(connack.sessionPresent, false);
    const assigned = connack.properties?.assignedClientIdentifier;
    assert.ok(assigned !== undefined && assigned.length > 0);
    await c.end();
    const again = await handshake(b.port, { protocolVersion: 5, clientId: assigned, clean: false, properties: { sessionExpiryInterval: 0 } });
    assert.equal(again.connack.sessionPresent, true);
    assert.equal(again.connack.properties?.assignedClientIdentifier, undefined);
    await again.c.end();
  });

  test('v5 non-empty client id: no Assigned Client Identifier', async () => {
    const { c, connack } = await handshake(b.port, { protocolVersion: 5, clientId: 'has-an-id' });
    assert.equal(connack.properties?.assignedClientIdentifier, undefined);
    await c.end();
  });

  test('3.1.1 empty client id with clean session: accepted (MQTT.js), no properties', async () => {
    const c = await connectClient(b.url, 4, { clientId: '' });
    assert.equal(connackOf(c.client).returnCode, 0);
    await within(c.client.subscribeAsync('empty-id/t'), 'SUBACK');
    await within(c.client.publishAsync('empty-id/t', 'y'), 'the publish to complete');
    assert.equal((await c.nextMessage()).payload, 'y');
    await c.end();
  });

  test('3.1.1 empty client id without clean session: CONNACK 0x02, then close', async () => {
    const { c, connack } = await handshake(b.port, { protocolVersion: 4, clientId: '', clean: false });
    assert.equal(connack.reasonCode, 0x02);
    assert.equal(connack.sessionPresent, false);
    await c.expectClose();
  });

  // MQTT.js will not send a 3.1 CONNECT with an empty client id, so this one is raw only.
  test('3.1 empty client id: CONNACK 0x02, then close', async () => {
    const { c, connack } = await handshake(b.port, { protocolVersion: 3, clientId: '', clean: true });
    assert.equal(connack.reasonCode, 0x02);
    await c.expectClose();
  });

  test('v5 CONNACK advertises the defaults: Receive Maximum, Retain Available, Maximum Packet Size, Topic Alias Maximum, features', async () => {
    const c = await connectClient(b.url, 5, { clientId: 'props-default' });
    const p = connackOf(c.client).properties ?? {};
    assert.equal(p.receiveMaximum, 100);
    assert.equal(p.maximumQoS, undefined); // absent means QoS 2
    assert.equal(p.retainAvailable, true);
    assert.equal(p.maximumPacketSize, 1024 * 1024);
    assert.equal(p.topicAliasMaximum, 10);
    assert.equal(p.wildcardSubscriptionAvailable, true);
    assert.equal(p.subscriptionIdentifiersAvailable, true);
    assert.equal(p.sharedSubscriptionAvailable, true);
    assert.equal(p.sessionExpiryInterval, undefined); // not capped
    assert.equal(p.serverKeepAlive, undefined); // not capped
    await c.end();
  });

  for (const version of [3, 5] as const) {
    test(`v${version} takeover with MQTT.js: a second connection with the same client id closes the first`, async () => {
      const clientId = `takeover-mqttjs-v${version}`;
      const first = await connectClient(b.url, version, { clientId });
      const disconnects: IDisconnectPacket[] = [];
      first.client.on('disconnect', (p) => disconnects.push(p));
      const firstClosed = closeOf(first.client);
      const second = await connectClient(b.url, version, { clientId });
      await within(firstClosed, 'the first connection to close');
      if (version === 5) {
        assert.equal(disconnects.length, 1, 'v5: DISCONNECT before the close');
        assert.equal(disconnects[0].reasonCode, 0x8e);
      } else {
        assert.equal(disconnects.length, 0);
      }
      // The second connection is the live one.
      await within(second.client.subscribeAsync(`takeover/v${version}`, { qos: 1 }), 'SUBACK');
      await within(second.client.publishAsync(`takeover/v${version}`, 'still here', { qos: 1 }), 'the publish to complete');
      assert.equal((await second.nextMessage()).payload, 'still here');
      await Promise.all([first.end(), second.end()]);
    });
  }

  test('v5 takeover, raw: DISCONNECT 0x8E and nothing else, then close; the session is handed over', async () => {
    const clientId = 'takeover-raw-v5';
    const { c: first } = await handshake(b.port, { protocolVersion: 5, clientId, clean: true, properties: { sessionExpiryInterval: 60 } });
    const { c: second, connack } = await handshake(b.port, { protocolVersion: 5, clientId, clean: false, properties: { sessionExpiryInterval: 60 } });
    assert.equal(connack.reasonCode, 0);
    assert.equal(connack.sessionPresent, true);
    const d = await first.expect(PacketType.DISCONNECT);
    assert.equal(d.reasonCode, 0x8e);
    await first.expectClose();
    await ping(second);
    await second.end();
  });

  test('3.1.1 takeover, raw: the first connection is closed with nothing sent', async () => {
    const clientId = 'takeover-raw-v4';
    const { c: first } = await handshake(b.port, { protocolVersion: 4, clientId, clean: false });
    const { c: second, connack } = await handshake(b.port, { protocolVersion: 4, clientId, clean: false });
    assert.equal(connack.sessionPresent, true);
    await first.expectClose();
    await ping(second);
    await second.end();
  });

  test('first packet not CONNECT: closed with nothing sent', async () => {
    for (const bytes of [Buffer.from([0xc0, 0x00]), Buffer.from([0x30, 0x05, 0x00, 0x01, 0x61, 0x68, 0x69])]) {
      const c = await RawClient.open(b.port, 5);
      c.send(bytes);
      await c.expectClose();
    }
  });

  test('second CONNECT: v5 DISCONNECT 0x82 then close; 3.1.1 close with nothing sent', async () => {
    const v5 = await RawClient.connect(b.port, { protocolVersion: 5, clientId: 'second-connect-v5' });
    v5.send({ type: PacketType.CONNECT, protocolVersion: 5, clean: true, keepAlive: 0, clientId: 'second-connect-v5' });
    assert.equal((await v5.expect(PacketType.DISCONNECT)).reasonCode, 0x82);
    await v5.expectClose();
    const v4 = await RawClient.connect(b.port, { protocolVersion: 4, clientId: 'second-connect-v4' });
    v4.send({ type: PacketType.CONNECT, protocolVersion: 4, clean: true, keepAlive: 0, clientId: 'second-connect-v4' });
    await v4.expectClose();
  });

  test('malformed CONNECT (reserved flag set): v5 CONNACK 0x81 then close; 3.1.1 close with nothing sent', async () => {
    const v5 = await RawClient.open(b.port, 5);
    v5.send(connectBytes('MQTT', 5, 0x03));
    assert.equal((await v5.expect(PacketType.CONNACK)).reasonCode, 0x81);
    await v5.expectClose();
    const v4 = await RawClient.open(b.port, 4);
    v4.send(connectBytes('MQTT', 4, 0x03));
    await v4.expectClose();
  });

  test('v5 CONNECT with an Authentication Method and no enhancedAuth hook: CONNACK 0x8C, then close', async () => {
    const { c, connack } = await handshake(b.port, {
      protocolVersion: 5, clientId: 'no-enhanced-auth', properties: { authenticationMethod: 'SCRAM-SHA-256' },
    });
    assert.equal(connack.reasonCode, 0x8c);
    assert.equal(connack.sessionPresent, false);
    await c.expectClose();
    assert.equal(b.broker.registry.get('no-enhanced-auth'), undefined);
  });
});

describe('v5 CONNACK properties follow the options', () => {
  let b: TestBroker;
  before(async () => {
    b = await startBroker({
      receiveMaximum: 20, maximumQoS: 1, retainAvailable: false, maxPacketSize: 4096, topicAliasMaximum: 0,
      wildcardSubscriptionAvailable: false, subscriptionIdentifiersAvailable: false, sharedSubscriptionAvailable: false,
    });
  });
  after(async () => { await b.close(); });

  test('raw v5 CONNACK carries the configured values', async () => {
    const { c, connack } = await handshake(b.port, { protocolVersion: 5 });
    const p = connack.properties ?? {};
    assert.equal(p.receiveMaximum, 20);
    assert.equal(p.maximumQoS, 1);
    assert.equal(p.retainAvailable, false);
    assert.equal(p.maximumPacketSize, 4096);
    assert.equal(p.topicAliasMaximum, undefined); // absent means 0
    assert.equal(p.wildcardSubscriptionAvailable, false);
    assert.equal(p.subscriptionIdentifiersAvailable, false);
    assert.equal(p.sharedSubscriptionAvailable, false);
    await c.end();
  });

  test('MQTT.js sees Maximum QoS 1, and a QoS 2 subscription is granted QoS 1', async () => {
    const c = await connectClient(b.url, 5, { clientId: 'props-maxqos' });
    assert.equal(connackOf(c.client).properties?.maximumQoS, 1);
    const granted = await within(c.client.subscribeAsync('maxqos/t', { qos: 2 }), 'SUBACK');
    assert.equal(granted[0].qos, 1);
    await c.end();
  });
});

describe('authenticate hook', () => {
  let b: TestBroker;
  const seen: AuthenticateContext[] = [];
  before(async () => {
    b = await startBroker({
      hooks: {
        authenticate: (ctx) => {
          seen.push(ctx);
          const password = ctx.password?.toString();
          switch (ctx.username) {
            case 'alice': return password === 'secret';
            case 'custom': return { reasonCode: 0x87, reasonString: 'not you' };
            case 'async-alice': return delay(30).then(() => password === 'secret');
            default: return false;
          }
        },
      },
    });
  });
  after(async () => { await b.close(); });

  for (const version of [3, 4, 5] as const) {
    test(`v${version}: good credentials are accepted and the hook sees them`, async () => {
      const clientId = `auth-ok-v${version}`;
      const c = await connectClient(b.url, version, { clientId, username: 'alice', password: 'secret' });
      const ctx = seen.find((s) => s.clientId === clientId);
      assert.ok(ctx !== undefined);
      assert.equal(ctx.username, 'alice');
      assert.equal(ctx.password?.toString(), 'secret');
      assert.equal(ctx.protocolVersion, version);
      await c.end();
    });

    test(`v${version}: a refusal is CONNACK ${version === 5 ? '0x86' : '0x04'} and no session is made`, async () => {
      const clientId = `auth-bad-v${version}`;
      await refusedWith(b.url, version, { clientId, username: 'alice', password: 'wrong', clean: false }, version === 5 ? 0x86 : 0x04);
      assert.equal(b.broker.registry.get(clientId), undefined);
      // Over the wire: the same id with good credentials finds no session.
      const ok = await connectClient(b.url, version, {
        clientId, username: 'alice', password: 'secret', clean: false,
        ...(version === 5 ? { properties: { sessionExpiryInterval: 10 } } : {}),
      });
      assert.equal(connackOf(ok.client).sessionPresent, false);
      await ok.end();
    });
  }

  test('a refusal with reason code 0x87: v5 CONNACK 0x87, 3.1.1 CONNACK 0x05', async () => {
    await refusedWith(b.url, 5, { clientId: 'auth-custom-v5', username: 'custom', password: 'x' }, 0x87);
    await refusedWith(b.url, 4, { clientId: 'auth-custom-v4', username: 'custom', password: 'x' }, 0x05);
    // Raw: the refusal is the CONNACK and then the close, nothing else.
    const { c, connack } = await handshake(b.port, { protocolVersion: 4, clientId: 'auth-custom-raw', username: 'custom', password: Buffer.from('x') });
    assert.equal(connack.reasonCode, 0x05);
    await c.expectClose();
  });

  test('an async hook: allows and refuses', async () => {
    const ok = await connectClient(b.url, 5, { clientId: 'auth-async-ok', username: 'async-alice', password: 'secret' });
    assert.equal(connackOf(ok.client).reasonCode, 0);
    await refusedWith(b.url, 5, { clientId: 'auth-async-bad', username: 'async-alice', password: 'nope' }, 0x86);
    await refusedWith(b.url, 4, { clientId: 'auth-async-bad-v4', username: 'async-alice', password: 'nope' }, 0x04);
    assert.equal(b.broker.registry.get('auth-async-bad'), undefined);
    await ok.end();
  });

  test('a refused client does not take over the connection of the same client id', async () => {
    const clientId = 'auth-no-takeover';
    const { c: owner } = await handshake(b.port, { protocolVersion: 5, clientId, username: 'alice', password: Buffer.from('secret') });
    const { c: intruder, connack } = await handshake(b.port, { protocolVersion: 5, clientId, username: 'alice', password: Buffer.from('guess') });
    assert.equal(connack.reasonCode, 0x86);
    await intruder.expectClose();
    await ping(owner);
    assert.equal(owner.isClosed, false);
    await owner.end();
  });
});

describe('enhanced authentication (v5 AUTH)', () => {
  let b: TestBroker;
  const steps: { method: string; step: number; reauthenticate: boolean; data: string | undefined }[] = [];
  // A toy challenge-response: "hello" → challenge "nonce", then "response:nonce" → success "welcome".
  const hook = (ctx: EnhancedAuthContext): EnhancedAuthResult => {
    const data = ctx.data?.toString();
    steps.push({ method: ctx.method, step: ctx.step, reauthenticate: ctx.reauthenticate, data });
    if (ctx.method === 'deny') return { outcome: 'fail', reasonCode: 0x8a, reasonString: 'banned' };
    if (ctx.step === 0) {
      if (data !== 'hello') return { outcome: 'fail' };
      ctx.state.nonce = `nonce-${steps.length}`;
      return { outcome: 'continue', data: Buffer.from(ctx.state.nonce as string) };
    }
    if (data === `response:${String(ctx.state.nonce)}`) return { outcome: 'success', data: Buffer.from('welcome') };
    return { outcome: 'fail' };
  };
  before(async () => {
    b = await startBroker({
      hooks: {
        enhancedAuth: (ctx) => (ctx.method === 'toy-async' ? delay(20).then(() => hook(ctx)) : hook(ctx)),
      },
    });
  });
  after(async () => { await b.close(); });

  /** CONNECT with the method, AUTH 0x18 from the broker, AUTH 0x18 back: returns the CONNACK. */
  async function twoStep(c: RawClient, clientId: string, method: string, answer?: (nonce: string) => string): Promise<ConnackPacket> {
    c.send({
      type: PacketType.CONNECT, protocolVersion: 5, clean: true, keepAlive: 0, clientId,
      properties: { authenticationMethod: method, authenticationData: Buffer.from('hello') },
    });
    const challenge = await c.expect(PacketType.AUTH);
    assert.equal(challenge.reasonCode, 0x18);
    assert.equal(challenge.properties?.authenticationMethod, method);
    const nonce = challenge.properties?.authenticationData?.toString() ?? '';
    assert.match(nonce, /^nonce-/);
    c.send({
      type: PacketType.AUTH, reasonCode: 0x18,
      properties: { authenticationMethod: method, authenticationData: Buffer.from((answer ?? ((n) => `response:${n}`))(nonce)) },
    });
    return c.expect(PacketType.CONNACK);
  }

  for (const method of ['toy', 'toy-async']) {
    test(`${method}: CONNECT, AUTH 0x18, AUTH 0x18, CONNACK 0x00 with the method and the final data`, async () => {
      const c = await RawClient.open(b.port, 5);
      const connack = await twoStep(c, `enh-ok-${method}`, method);
      assert.equal(connack.reasonCode, 0);
      assert.equal(connack.properties?.authenticationMethod, method);
      assert.equal(connack.properties?.authenticationData?.toString(), 'welcome');
      await ping(c);
      await c.end();
    });
  }

  test('a wrong answer: CONNACK 0x87 (the default), then close, and no session', async () => {
    const c = await RawClient.open(b.port, 5);
    const connack = await twoStep(c, 'enh-wrong', 'toy', () => 'response:guess');
    assert.equal(connack.reasonCode, 0x87);
    await c.expectClose();
    assert.equal(b.broker.registry.get('enh-wrong'), undefined);
  });

  test("a failure with the hook's reason code: CONNACK 0x8A, then close", async () => {
    const { c, connack } = await handshake(b.port, {
      protocolVersion: 5, clientId: 'enh-deny', properties: { authenticationMethod: 'deny' },
    });
    assert.equal(connack.reasonCode, 0x8a);
    await c.expectClose();
  });

  test('re-authentication on a live connection: AUTH 0x19, AUTH 0x18, AUTH 0x18, AUTH 0x00', async () => {
    const c = await RawClient.open(b.port, 5);
    assert.equal((await twoStep(c, 'enh-reauth', 'toy')).reasonCode, 0);
    const before = steps.length;
    c.send({ type: PacketType.AUTH, reasonCode: 0x19, properties: { authenticationMethod: 'toy', authenticationData: Buffer.from('hello') } });
    const challenge = await c.expect(PacketType.AUTH);
    assert.equal(challenge.reasonCode, 0x18);
    const nonce = challenge.properties?.authenticationData?.toString();
    c.send({ type: PacketType.AUTH, reasonCode: 0x18, properties: { authenticationMethod: 'toy', authenticationData: Buffer.from(`response:${nonce}`) } });
    const done = await c.expect(PacketType.AUTH);
    assert.equal(done.reasonCode, 0x00);
    assert.equal(done.properties?.authenticationMethod, 'toy');
    assert.equal(done.properties?.authenticationData?.toString(), 'welcome');
    assert.deepEqual(steps.slice(before).map((s) => [s.step, s.reauthenticate]), [[0, true], [1, true]]);
    await ping(c);
    await c.end();
  });

  test('a failed re-authentication: DISCONNECT 0x87, then close', async () => {
    const c = await RawClient.open(b.port, 5);
    assert.equal((await twoStep(c, 'enh-reauth-fail', 'toy')).reasonCode, 0);
    c.send({ type: PacketType.AUTH, reasonCode: 0x19, properties: { authenticationMethod: 'toy', authenticationData: Buffer.from('bye') } });
    assert.equal((await c.expect(PacketType.DISCONNECT)).reasonCode, 0x87);
    await c.expectClose();
  });
});

describe('connect timeout', () => {
  let b: TestBroker;
  before(async () => { b = await startBroker({ connectTimeout: 300 }); });
  after(async () => { await b.close(); });

  const cases: [string, Buffer | undefined][] = [
    ['a socket that sends nothing', undefined],
    ['a socket that sends half a CONNECT', connectBytes('MQTT', 4, 0x02, 'half-a-connect').subarray(0, 9)],
  ];
  for (const [what, bytes] of cases) {
    test(`${what} is closed after connectTimeout, with nothing sent`, async () => {
      const c = await RawClient.open(b.port, 4);
      const t0 = performance.now();
      if (bytes !== undefined) c.send(bytes);
      await c.expectClose(2500);
      const elapsed = performance.now() - t0;
      assert.ok(elapsed >= 250, `closed after ${elapsed.toFixed(0)} ms, before the timeout`);
      assert.ok(elapsed <= 2000, `closed after ${elapsed.toFixed(0)} ms`);
    });
  }

  test('a connection whose CONNECT was accepted is not closed by the connect timeout', async () => {
    const c = await RawClient.connect(b.port, { protocolVersion: 4, clientId: 'timeout-connected' });
    await staysOpen(c, 700);
    await ping(c);
    await c.end();
  });
});
