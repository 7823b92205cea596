// Every control packet, for every version it exists in, with every property it may carry:
// encoded, decoded on the side that receives it, and compared field by field.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  PacketType, preparePublish, publishHead, type AuthPacket, type ConnackPacket, type ConnectPacket,
  type Packet, type ProtocolVersion, type PublishPacket,
} from '../../src/protocol/index.js';
import { decodeAll, decoderFor, plain, roundTrip } from './helpers.js';

const V3: ProtocolVersion[] = [3, 4];
const ALL: ProtocolVersion[] = [3, 4, 5];
const user: [string, string][] = [['k', 'v'], ['k', 'v2'], ['ключ', '値 ✓']];

const connectV5: ConnectPacket = {
  type: PacketType.CONNECT,
  protocolVersion: 5,
  clean: false,
  keepAlive: 60,
  clientId: 'client-ü',
  username: 'user',
  password: Buffer.from([0, 1, 2, 255]),
  properties: {
    sessionExpiryInterval: 3600,
    receiveMaximum: 100,
    maximumPacketSize: 65536,
    topicAliasMaximum: 10,
    requestResponseInformation: true,
    requestProblemInformation: false,
    userProperties: user,
    authenticationMethod: 'SCRAM-SHA-256',
    authenticationData: Buffer.from('client-first'),
  },
  will: {
    topic: 'status/client',
    payload: Buffer.from('gone'),
    qos: 2,
    retain: true,
    properties: {
      willDelayInterval: 30,
      payloadFormatIndicator: true,
      messageExpiryInterval: 120,
      contentType: 'text/plain',
      responseTopic: 'reply/here',
      correlationData: Buffer.from([9, 9]),
      userProperties: user,
    },
  },
};

for (const version of ALL) {
  test(`CONNECT v${version}: minimal`, () => {
    roundTrip({ type: PacketType.CONNECT, protocolVersion: version, clean: true, keepAlive: 0, clientId: '' }, version);
  });
  test(`CONNECT v${version}: will, user name and password`, () => {
    const p: ConnectPacket = {
      type: PacketType.CONNECT, protocolVersion: version, clean: false, keepAlive: 65535, clientId: 'id',
      will: { topic: 'a/b', payload: Buffer.alloc(0), qos: 1, retain: false },
      username: 'u', password: Buffer.from('p'),
    };
    const bytes = roundTrip(p, version);
    // Protocol name and level [MQTT-3.1.2-1] [MQTT-3.1.2-2].
    const name = version === 3 ? 'MQIsdp' : 'MQTT';
    assert.equal(bytes.subarray(4, 4 + name.length).toString(), name);
    assert.equal(bytes[4 + name.length], version);
  });
}

test('CONNECT v5: every connect and will property', () => {
  roundTrip(connectV5, 5);
});

test('CONNECT v5: password without user name is allowed in v5', () => {
  roundTrip({ type: PacketType.CONNECT, protocolVersion: 5, clean: true, keepAlive: 5, clientId: 'x', password: Buffer.from('p') }, 5);
});

for (const version of V3) {
  for (const code of [0, 1, 2, 3, 4, 5]) {
    test(`CONNACK v${version}: return code ${code}`, () => {
      roundTrip({ type: PacketType.CONNACK, sessionPresent: code === 0, reasonCode: code }, version);
    });
  }
}

test('CONNACK v5: every property', () => {
  const p: ConnackPacket = {
    type: PacketType.CONNACK,
    sessionPresent: true,
    reasonCode: 0,
    properties: {
      sessionExpiryInterval: 0xffffffff,
      receiveMaximum: 20,
      maximumQoS: 1,
      retainAvailable: false,
      maximumPacketSize: 1048576,
      assignedClientIdentifier: 'auto-1',
      topicAliasMaximum: 16,
      reasonString: 'welcome',
      userProperties: user,
      wildcardSubscriptionAvailable: true,
      subscriptionIdentifiersAvailable: true,
      sharedSubscriptionAvailable: true,
      serverKeepAlive: 30,
      responseInformation: 'resp/',
      serverReference: 'other:1883',
      authenticationMethod: 'SCRAM-SHA-256',
      authenticationData: Buffer.from('server-final'),
    },
  };
  roundTrip(p, 5);
});

test('CONNACK v5: refusal codes', () => {
  for (const code of [0x80, 0x81, 0x82, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x90, 0x95, 0x97, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9f]) {
    roundTrip({ type: PacketType.CONNACK, sessionPresent: false, reasonCode: code }, 5);
  }
});

function publish(version: ProtocolVersion, qos: 0 | 1 | 2, extra: Partial<PublishPacket> = {}): PublishPacket {
  return {
    type: PacketType.PUBLISH, topic: 'sensors/room-1/temp', payload: Buffer.from('21.5'), qos,
    retain: false, dup: false, packetId: qos === 0 ? 0 : 4242, ...extra,
  };
  void version;
}

for (const version of ALL) {
  for (const qos of [0, 1, 2] as const) {
    test(`PUBLISH v${version}: QoS ${qos}, retain and dup`, () => {
      roundTrip(publish(version, qos), version);
      roundTrip(publish(version, qos, { retain: true }), version);
      if (qos > 0) roundTrip(publish(version, qos, { dup: true, packetId: 65535 }), version);
    });
  }
  test(`PUBLISH v${version}: empty and large payloads, UTF-8 topic`, () => {
    roundTrip(publish(version, 0, { payload: Buffer.alloc(0) }), version);
    roundTrip(publish(version, 1, { payload: Buffer.alloc(100_000, 7), topic: 'données/温度/🌡' }), version);
  });
}

test('PUBLISH v5: every property a server may send', () => {
  roundTrip(publish(5, 1, {
    properties: {
      payloadFormatIndicator: true,
      messageExpiryInterval: 10,
      topicAlias: 3,
      responseTopic: 'reply/to',
      correlationData: Buffer.from('corr'),
      userProperties: user,
      subscriptionIdentifiers: [1, 268435455, 16384],
      contentType: 'application/json',
    },
  }), 5);
});

test('PUBLISH v5: empty topic with a topic alias', () => {
  roundTrip(publish(5, 0, { topic: '', properties: { topicAlias: 7 } }), 5);
});

const ACK_TYPES = [PacketType.PUBACK, PacketType.PUBREC, PacketType.PUBREL, PacketType.PUBCOMP] as const;
const ACK_CODES: Record<number, number[]> = {
  4: [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99],
  5: [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99],
  6: [0x00, 0x92],
  7: [0x00, 0x92],
};

for (const type of ACK_TYPES) {
  for (const version of ALL) {
    test(`ack type ${type} v${version}: packet id`, () => {
      const bytes = roundTrip({ type, packetId: 1, reasonCode: 0 }, version);
      assert.equal(bytes.length, 4); // Remaining Length 2 when there is no reason code [MQTT-3.4.2-1]
    });
  }
  test(`ack type ${type} v5: every reason code, reason string and user properties`, () => {
    for (const code of ACK_CODES[type]) {
      roundTrip({ type, packetId: 300, reasonCode: code }, 5);
      roundTrip({ type, packetId: 300, reasonCode: code, properties: { reasonString: 'why', userProperties: user } }, 5);
    }
  });
}

for (const version of ALL) {
  test(`SUBSCRIBE v${version}: several filters`, () => {
    roundTrip({
      type: PacketType.SUBSCRIBE,
      packetId: 10,
      subscriptions: [
        { filter: 'a/+/c', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 },
        { filter: '#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 },
        { filter: '$share/group/x/#', qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      ],
    }, version);
  });
  test(`SUBACK v${version}`, () => {
    roundTrip({ type: PacketType.SUBACK, packetId: 10, reasonCodes: version === 5 ? [0, 1, 2, 0x80, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2] : [0, 1, 2, 0x80] }, version);
  });
  test(`UNSUBSCRIBE v${version}`, () => {
    roundTrip({ type: PacketType.UNSUBSCRIBE, packetId: 11, filters: ['a/b', '+/+', 'x/#'] }, version);
  });
  test(`UNSUBACK v${version}`, () => {
    roundTrip({ type: PacketType.UNSUBACK, packetId: 11, reasonCodes: version === 5 ? [0, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91] : [] }, version);
  });
  test(`PINGREQ and PINGRESP v${version}`, () => {
    assert.deepEqual([...roundTrip({ type: PacketType.PINGREQ }, version)], [0xc0, 0]);
    assert.deepEqual([...roundTrip({ type: PacketType.PINGRESP }, version)], [0xd0, 0]);
  });
  test(`DISCONNECT v${version} from a client`, () => {
    assert.deepEqual([...roundTrip({ type: PacketType.DISCONNECT, reasonCode: 0 }, version)], [0xe0, 0]);
  });
}

test('SUBSCRIBE v5: every subscription option and property', () => {
  roundTrip({
    type: PacketType.SUBSCRIBE,
    packetId: 65535,
    properties: { subscriptionIdentifier: 268435455, userProperties: user },
    subscriptions: [
      { filter: 'a/b', qos: 2, noLocal: true, retainAsPublished: true, retainHandling: 2 },
      { filter: 'c/#', qos: 1, noLocal: false, retainAsPublished: true, retainHandling: 1 },
      { filter: '$share/g/+', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 },
    ],
  }, 5);
});

test('SUBACK, UNSUBSCRIBE and UNSUBACK v5: properties', () => {
  roundTrip({ type: PacketType.SUBACK, packetId: 1, reasonCodes: [1], properties: { reasonString: 'r', userProperties: user } }, 5);
  roundTrip({ type: PacketType.UNSUBSCRIBE, packetId: 1, filters: ['a'], properties: { userProperties: user } }, 5);
  roundTrip({ type: PacketType.UNSUBACK, packetId: 1, reasonCodes: [0], properties: { reasonString: 'r', userProperties: user } }, 5);
});

test('DISCONNECT v5: every reason code a client or server sends, every property', () => {
  const codes = [0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8d, 0x8e, 0x8f, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2];
  for (const code of codes) {
    // Server to client: decoded on the client side.
    roundTrip({ type: PacketType.DISCONNECT, reasonCode: code, properties: { reasonString: 'bye', serverReference: 'b:1883', userProperties: user } }, 5);
  }
  // Client to server, with a new session expiry (3.14.2.2.2).
  const bytes = roundTrip({ type: PacketType.DISCONNECT, reasonCode: 0x04, properties: { sessionExpiryInterval: 60 } }, 5);
  const d = decoderFor(PacketType.PUBLISH, 5);
  assert.equal(decodeAll(d, bytes)[0].type, PacketType.DISCONNECT);
});

test('DISCONNECT v5: short forms (Remaining Length 0 and 1)', () => {
  assert.deepEqual([...roundTrip({ type: PacketType.DISCONNECT, reasonCode: 0 }, 5)], [0xe0, 0]);
  assert.deepEqual([...roundTrip({ type: PacketType.DISCONNECT, reasonCode: 0x8e }, 5)], [0xe0, 1, 0x8e]);
});

test('AUTH v5: every reason code and property', () => {
  for (const code of [0x00, 0x18, 0x19]) {
    const p: AuthPacket = {
      type: PacketType.AUTH,
      reasonCode: code,
      properties: { authenticationMethod: 'SCRAM-SHA-512', authenticationData: Buffer.from('data'), reasonString: 'r', userProperties: user },
    };
    roundTrip(p, 5);
    roundTrip(p, 5, p);
  }
  assert.deepEqual([...roundTrip({ type: PacketType.AUTH, reasonCode: 0 }, 5)], [0xf0, 0]);
});

test('AUTH v5: decodes on both sides', () => {
  const p: Packet = { type: PacketType.AUTH, reasonCode: 0x18, properties: { authenticationMethod: 'm' } };
  const d = decoderFor(PacketType.PUBLISH, 5); // server side, after CONNECT
  const [out] = decodeAll(d, (roundTrip(p, 5)));
  assert.deepEqual(plain(out), plain(p));
});

for (const version of ALL) {
  for (const qos of [0, 1, 2] as const) {
    for (const size of [16, 5000]) {
      test(`prepared PUBLISH v${version} QoS ${qos} ${size} B: per-subscriber bytes decode to the message`, () => {
        const message = { topic: 'fan/out', payload: Buffer.alloc(size, 0x61), qos, retain: true };
        const prepared = preparePublish(message, version);
        const seen = new Set<number>();
        for (const [packetId, dup] of [[1, false], [2, true], [65535, false]] as const) {
          const head = publishHead(prepared, packetId, dup);
          const bytes = prepared.tail === undefined ? head : Buffer.concat([head, prepared.tail]);
          assert.equal(bytes.length, prepared.size);
          const [p] = decodeAll(decoderFor(PacketType.PUBLISH, version), bytes) as PublishPacket[];
          assert.equal(p.topic, 'fan/out');
          assert.ok(p.payload.equals(message.payload));
          assert.equal(p.retain, true);
          assert.equal(p.qos, qos);
          assert.equal(p.packetId, qos === 0 ? 0 : packetId);
          assert.equal(p.dup, qos > 0 && dup);
          seen.add(p.packetId);
        }
        if (qos === 0) {
          // QoS 0: every subscriber is handed the same Buffer, not a copy.
          assert.equal(publishHead(prepared, 1, false), publishHead(prepared, 2, false));
        } else {
          assert.equal(seen.size, 3);
        }
        // A large payload is not copied into the head: it stays the publisher's bytes.
        if (size > 2048) assert.equal(prepared.tail, message.payload);
      });
    }
  }
}
