// One row per validation rule: bytes a peer might send, and the reason code it must be told.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Decoder, encode, PacketType, type ProtocolVersion } from '../../src/protocol/index.js';
import { decodeError, props, raw, str } from './helpers.js';

interface Row {
  rule: string;
  bytes: Buffer;
  /** Version of the CONNECT that precedes the bytes; undefined: the bytes are the first packet. */
  after?: ProtocolVersion;
  side?: 'server' | 'client';
  code: number;
}

const connect = (level: number, flags: number, ...rest: (number | number[] | Buffer | string)[]) =>
  raw(0x10, str(level === 3 ? 'MQIsdp' : 'MQTT'), level, flags, [0, 60], ...(level === 5 ? [props()] : []), ...rest);
const u16 = (n: number) => [n >> 8, n & 0xff];

const rows: Row[] = [
  // Fixed header [MQTT-2.2.2-2], [MQTT-3.6.1-1], [MQTT-3.8.1-1], [MQTT-3.10.1-1]
  { rule: 'CONNECT with flags 0001', bytes: Buffer.from([0x11, 0]), code: 0x81 },
  { rule: 'PUBACK with flags 0010', bytes: raw(0x42, u16(1)), after: 4, code: 0x81 },
  { rule: 'PUBREL with flags 0000', bytes: raw(0x60, u16(1)), after: 4, code: 0x81 },
  { rule: 'SUBSCRIBE with flags 0000', bytes: raw(0x80, u16(1), 'a', 0), after: 4, code: 0x81 },
  { rule: 'UNSUBSCRIBE with flags 0011', bytes: raw(0xa3, u16(1), 'a'), after: 4, code: 0x81 },
  { rule: 'PINGREQ with flags 1000', bytes: Buffer.from([0xc8, 0]), after: 4, code: 0x81 },
  { rule: 'DISCONNECT with flags 0001', bytes: Buffer.from([0xe1, 0]), after: 5, code: 0x81 },
  { rule: 'packet type 0', bytes: Buffer.from([0x00, 0]), after: 4, code: 0x81 },
  { rule: 'packet type 15 before MQTT 5', bytes: Buffer.from([0xf0, 0]), after: 4, code: 0x81 },
  // Remaining Length [MQTT-1.5.5-1]
  { rule: 'Remaining Length of 5 bytes', bytes: Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), after: 4, code: 0x81 },
  { rule: 'Remaining Length not minimal', bytes: Buffer.from([0xc0, 0x80, 0x00]), after: 4, code: 0x81 },
  // The body is consumed exactly
  { rule: 'PUBACK 3.1.1 with an extra byte', bytes: raw(0x40, u16(1), 0), after: 4, code: 0x81 },
  { rule: 'PINGREQ with a body', bytes: raw(0xc0, 0), after: 4, code: 0x81 },
  { rule: '3.1.1 DISCONNECT with a body', bytes: raw(0xe0, 0), after: 4, code: 0x81 },
  { rule: 'CONNECT with trailing bytes', bytes: connect(4, 0x02, 'id', 0), code: 0x81 },
  { rule: 'string longer than the packet', bytes: raw(0x30, [0, 9], 'ab'), after: 4, code: 0x81 },
  { rule: 'PUBLISH QoS 1 without a packet id', bytes: raw(0x32, 'a'), after: 4, code: 0x81 },
  // UTF-8 [MQTT-1.5.4-1] [MQTT-1.5.4-2]
  { rule: 'topic with ill-formed UTF-8', bytes: raw(0x30, str(Buffer.from([0x61, 0xc3, 0x28]))), after: 4, code: 0x81 },
  { rule: 'topic with an encoded surrogate', bytes: raw(0x30, str(Buffer.from([0xed, 0xa0, 0x80]))), after: 4, code: 0x81 },
  { rule: 'topic with an overlong encoding', bytes: raw(0x30, str(Buffer.from([0xc0, 0xaf]))), after: 4, code: 0x81 },
  { rule: 'topic with U+0000', bytes: raw(0x30, str(Buffer.from([0x61, 0x00]))), after: 4, code: 0x81 },
  { rule: 'client id with U+0000', bytes: connect(4, 0x02, str(Buffer.from([0]))), code: 0x81 },
  { rule: 'code point above U+10FFFF', bytes: raw(0x30, str(Buffer.from([0xf4, 0x90, 0x80, 0x80]))), after: 4, code: 0x81 },
  { rule: 'user property with bad UTF-8', bytes: raw(0x30, 'a', props(0x26, str('k'), str(Buffer.from([0xff])))), after: 5, code: 0x81 },
  // Topic names [MQTT-3.3.2-2] [MQTT-4.7.3-1]
  { rule: 'PUBLISH topic with +', bytes: raw(0x30, 'a/+/b'), after: 4, code: 0x90 },
  { rule: 'PUBLISH topic with #', bytes: raw(0x30, 'a/#', props()), after: 5, code: 0x90 },
  { rule: 'PUBLISH empty topic (3.1.1)', bytes: raw(0x30, ''), after: 4, code: 0x81 },
  { rule: 'PUBLISH empty topic without alias (v5)', bytes: raw(0x30, '', props()), after: 5, code: 0x82 },
  { rule: 'will topic with a wildcard', bytes: connect(4, 0x06, 'id', 'w/#', str('x')), code: 0x90 },
  // Topic filters [MQTT-4.7.1-2] [MQTT-4.7.1-3] [MQTT-4.8.2-1] [MQTT-4.8.2-2]
  { rule: "'#' not last", bytes: raw(0x82, u16(1), 'a/#/b', 0), after: 4, code: 0x8f },
  { rule: "'#' not after '/'", bytes: raw(0x82, u16(1), 'a#', 0), after: 4, code: 0x8f },
  { rule: "'+' sharing its level", bytes: raw(0x82, u16(1), props(), 'a/b+', 0), after: 5, code: 0x8f },
  { rule: 'empty filter', bytes: raw(0x82, u16(1), '', 0), after: 4, code: 0x8f },
  { rule: 'shared subscription without filter', bytes: raw(0x82, u16(1), props(), '$share/g', 0), after: 5, code: 0x8f },
  { rule: 'shared subscription with empty ShareName', bytes: raw(0x82, u16(1), props(), '$share//a', 0), after: 5, code: 0x8f },
  { rule: 'ShareName with a wildcard', bytes: raw(0x82, u16(1), '$share/a+/b', 0), after: 4, code: 0x8f },
  { rule: 'UNSUBSCRIBE bad filter', bytes: raw(0xa2, u16(1), 'a/#/c'), after: 4, code: 0x8f },
  // Packet identifiers [MQTT-2.2.1-3] / [MQTT-2.3.1-1]
  { rule: 'PUBLISH QoS 1 with packet id 0', bytes: raw(0x32, 'a', u16(0)), after: 4, code: 0x82 },
  { rule: 'SUBSCRIBE with packet id 0', bytes: raw(0x82, u16(0), 'a', 0), after: 4, code: 0x82 },
  { rule: 'UNSUBSCRIBE with packet id 0', bytes: raw(0xa2, u16(0), props(), 'a'), after: 5, code: 0x82 },
  { rule: 'PUBREL with packet id 0', bytes: raw(0x62, u16(0)), after: 4, code: 0x82 },
  // PUBLISH flags [MQTT-3.3.1-4] [MQTT-3.3.1-2]
  { rule: 'PUBLISH QoS 3', bytes: raw(0x36, 'a', u16(1)), after: 4, code: 0x81 },
  { rule: 'DUP on QoS 0', bytes: raw(0x38, 'a'), after: 4, code: 0x81 },
  // CONNECT [MQTT-3.1.2-3] [MQTT-3.1.2-11..15] [MQTT-3.1.2-22]
  { rule: 'CONNECT reserved flag', bytes: connect(4, 0x03, 'id'), code: 0x81 },
  { rule: 'will QoS without will flag', bytes: connect(4, 0x08, 'id'), code: 0x81 },
  { rule: 'will retain without will flag', bytes: connect(5, 0x20, 'id'), code: 0x81 },
  { rule: 'will QoS 3', bytes: connect(4, 0x1c, 'id', 'w', str('x')), code: 0x81 },
  { rule: 'password without user name (3.1.1)', bytes: connect(4, 0x40, 'id', str('pw')), code: 0x81 },
  { rule: 'password without user name (3.1)', bytes: connect(3, 0x40, 'id', str('pw')), code: 0x81 },
  // Protocol name and level [MQTT-3.1.2-1] [MQTT-3.1.2-2]
  { rule: 'protocol level 6', bytes: raw(0x10, 'MQTT', 6, 2, [0, 0], 'id'), code: 0x84 },
  { rule: 'protocol level 2', bytes: raw(0x10, 'MQTT', 2, 2, [0, 0], 'id'), code: 0x84 },
  { rule: "'MQTT' with level 3", bytes: raw(0x10, 'MQTT', 3, 2, [0, 0], 'id'), code: 0x84 },
  { rule: 'unknown protocol name', bytes: raw(0x10, 'MQTX', 4, 2, [0, 0], 'id'), code: 0x84 },
  // Packet order [MQTT-3.1.0-1] [MQTT-3.1.0-2], and packets a client never sends
  { rule: 'first packet is not CONNECT', bytes: raw(0x30, 'a'), code: 0x82 },
  { rule: 'second CONNECT', bytes: connect(4, 0x02, 'id'), after: 4, code: 0x82 },
  { rule: 'CONNACK from a client', bytes: raw(0x20, 0, 0), after: 4, code: 0x82 },
  { rule: 'SUBACK from a client', bytes: raw(0x90, u16(1), 0), after: 4, code: 0x82 },
  { rule: 'UNSUBACK from a client', bytes: raw(0xb0, u16(1)), after: 4, code: 0x82 },
  { rule: 'PINGRESP from a client', bytes: Buffer.from([0xd0, 0]), after: 5, code: 0x82 },
  { rule: 'CONNECT to a client', bytes: connect(5, 0x02, 'id'), side: 'client', code: 0x82 },
  { rule: 'SUBSCRIBE to a client', bytes: raw(0x82, u16(1), props(), 'a', 0), side: 'client', code: 0x82 },
  // Properties: section 2.2.2
  { rule: 'unknown property identifier', bytes: raw(0x30, 'a', props(0x7f, 0)), after: 5, code: 0x81 },
  { rule: 'property repeated', bytes: raw(0x30, 'a', props(0x02, [0, 0, 0, 1], 0x02, [0, 0, 0, 2])), after: 5, code: 0x82 },
  { rule: 'property length past the packet', bytes: raw(0x30, 'a', [20, 0x01, 0]), after: 5, code: 0x81 },
  { rule: 'property cut short', bytes: raw(0x30, 'a', [3, 0x02, 0, 0]), after: 5, code: 0x81 },
  { rule: 'Topic Alias 0 [MQTT-3.3.2-8]', bytes: raw(0x30, 'a', props(0x23, [0, 0])), after: 5, code: 0x94 },
  { rule: 'Payload Format Indicator 2', bytes: raw(0x30, 'a', props(0x01, 2)), after: 5, code: 0x82 },
  { rule: 'client PUBLISH with Subscription Identifier [MQTT-3.3.4-6]', bytes: raw(0x30, 'a', props(0x0b, 1)), after: 5, code: 0x82 },
  { rule: 'Response Topic with a wildcard [MQTT-3.3.2-14]', bytes: raw(0x30, 'a', props(0x08, str('r/#'))), after: 5, code: 0x82 },
  { rule: 'Subscription Identifier 0', bytes: raw(0x82, u16(1), props(0x0b, 0), 'a', 0), after: 5, code: 0x82 },
  { rule: 'Subscription Identifier varint of 5 bytes', bytes: raw(0x82, u16(1), props(0x0b, [0xff, 0xff, 0xff, 0xff, 1]), 'a', 0), after: 5, code: 0x81 },
  { rule: 'reason string in PUBLISH', bytes: raw(0x30, 'a', props(0x1f, str('x'))), after: 5, code: 0x81 },
  { rule: 'invalid PUBACK reason code', bytes: raw(0x40, u16(1), 0x05), after: 5, code: 0x82 },
  { rule: 'invalid DISCONNECT reason code', bytes: raw(0xe0, 0x03), after: 5, code: 0x82 },
  { rule: 'AUTH without method', bytes: raw(0xf0, 0x18, props()), after: 5, code: 0x82 },
  // Subscription options [MQTT-3.8.3-5] (v5) / [MQTT-3-8.3-4] (3.1.1)
  { rule: 'v5 reserved option bits', bytes: raw(0x82, u16(1), props(), 'a', 0x40), after: 5, code: 0x81 },
  { rule: '3.1.1 option bits past QoS', bytes: raw(0x82, u16(1), 'a', 0x04), after: 4, code: 0x81 },
  { rule: 'subscription QoS 3', bytes: raw(0x82, u16(1), props(), 'a', 0x03), after: 5, code: 0x81 },
  { rule: 'Retain Handling 3', bytes: raw(0x82, u16(1), props(), 'a', 0x30), after: 5, code: 0x82 },
  { rule: 'No Local on a shared subscription [MQTT-3.8.3-4]', bytes: raw(0x82, u16(1), props(), '$share/g/a', 0x04), after: 5, code: 0x82 },
  // Empty SUBSCRIBE / UNSUBSCRIBE [MQTT-3.8.3-2] [MQTT-3.10.3-2]
  { rule: 'SUBSCRIBE with no filter', bytes: raw(0x82, u16(1)), after: 4, code: 0x82 },
  { rule: 'UNSUBSCRIBE with no filter', bytes: raw(0xa2, u16(1), props()), after: 5, code: 0x82 },
];

// Properties in the CONNECT itself: assembled here as they sit before the client id.
const connectWithProps = (p: Buffer) => raw(0x10, str('MQTT'), 5, 0x02, [0, 60], p, 'id');
rows.push(
  { rule: 'Topic Alias in CONNECT', bytes: connectWithProps(props(0x23, [0, 1])), code: 0x81 },
  { rule: 'Receive Maximum 0', bytes: connectWithProps(props(0x21, [0, 0])), code: 0x82 },
  { rule: 'Maximum Packet Size 0', bytes: connectWithProps(props(0x27, [0, 0, 0, 0])), code: 0x82 },
  { rule: 'Session Expiry Interval twice', bytes: connectWithProps(props(0x11, [0, 0, 0, 1], 0x11, [0, 0, 0, 1])), code: 0x82 },
  { rule: 'Authentication Data without Method', bytes: connectWithProps(props(0x16, str('x'))), code: 0x82 },
  { rule: 'Request Problem Information 2', bytes: connectWithProps(props(0x17, 2)), code: 0x82 },
  { rule: 'Will Delay Interval outside the will', bytes: connectWithProps(props(0x18, [0, 0, 0, 1])), code: 0x81 },
  { rule: 'Maximum QoS 2 in CONNACK', bytes: raw(0x20, 0, 0, props(0x24, 2)), side: 'client', code: 0x82 },
  { rule: 'CONNACK reserved flags', bytes: raw(0x20, 0x02, 0, props()), side: 'client', code: 0x81 },
  { rule: 'session present on a refusal', bytes: raw(0x20, 0x01, 0x87, props()), side: 'client', code: 0x82 },
  { rule: 'DISCONNECT from a 3.1.1 server', bytes: Buffer.from([0xe0, 0]), side: 'client', code: 0x82 },
);

for (const row of rows) {
  test(`malformed: ${row.rule} -> 0x${row.code.toString(16)}`, () => {
    const err = row.side === 'client'
      ? decodeError(row.bytes, row.rule.includes('3.1.1') ? 4 : 5, 'client')
      : decodeError(row.bytes, row.after);
    assert.equal(err.reasonCode, row.code, err.message);
  });
}

test('limits: a packet over the maximum is refused from its header alone', () => {
  const d = new Decoder({ maxPacketSize: 1000 });
  d.push(encode({ type: PacketType.CONNECT, protocolVersion: 5, clean: true, keepAlive: 0, clientId: 'c' }, 5));
  assert.equal(d.next()?.type, PacketType.CONNECT);
  d.push(Buffer.from([0x30, 0xe8, 0x07])); // PUBLISH declaring 1000 body bytes: 1003 in all; no body sent
  assert.throws(() => d.next(), (e: { reasonCode: number }) => e.reasonCode === 0x95);
  // The decoder stays failed: the connection must close.
  assert.throws(() => d.next(), (e: { reasonCode: number }) => e.reasonCode === 0x95);
});

test('limits: the limit counts the whole packet, header included', () => {
  // The broker sets the limit once it has accepted the CONNECT.
  const d = new Decoder();
  d.push(encode({ type: PacketType.CONNECT, protocolVersion: 4, clean: true, keepAlive: 0, clientId: 'c' }, 4));
  d.next();
  d.maxPacketSize = 11;
  d.push(raw(0x30, 'a/b', 'xxx')); // 2 + 5 + 5 = 12 bytes
  assert.throws(() => d.next(), (e: { reasonCode: number }) => e.reasonCode === 0x95);
  const ok = new Decoder();
  ok.push(encode({ type: PacketType.CONNECT, protocolVersion: 4, clean: true, keepAlive: 0, clientId: 'c' }, 4));
  ok.next();
  ok.maxPacketSize = 12;
  ok.push(raw(0x30, 'a/b', 'xxx'));
  assert.equal(ok.next()?.type, PacketType.PUBLISH);
});

test('limits: a much smaller limit applies before CONNECT', () => {
  const d = new Decoder({ maxPacketSize: 1 << 20, maxConnectPacketSize: 512 });
  d.push(Buffer.from([0x10, 0x80, 0x08])); // CONNECT declaring 1024 bytes; nothing else sent
  assert.throws(() => d.next(), (e: { reasonCode: number }) => e.reasonCode === 0x95);
});

test('limits: a non-CONNECT first packet is refused from its first byte', () => {
  const d = new Decoder();
  d.push(Buffer.from([0x30])); // only the first byte of a PUBLISH
  assert.throws(() => d.next(), (e: { reasonCode: number }) => e.reasonCode === 0x82);
});

test('limits: a declared length is not buffered up front; the packet decodes when its bytes arrive', () => {
  const d = new Decoder({ maxPacketSize: 1 << 20 });
  d.push(encode({ type: PacketType.CONNECT, protocolVersion: 4, clean: true, keepAlive: 0, clientId: 'c' }, 4));
  d.next();
  const packet = encode({ type: PacketType.PUBLISH, topic: 't', payload: Buffer.alloc(500_000, 1), qos: 0, retain: false, dup: false, packetId: 0 }, 4);
  for (let i = 0; i < packet.length - 1; i += 65536) {
    d.push(packet.subarray(i, Math.min(i + 65536, packet.length - 1)));
    assert.equal(d.next(), undefined);
  }
  assert.equal(d.bufferedBytes, packet.length - 1);
  d.push(packet.subarray(packet.length - 1));
  const p = d.next();
  assert.equal(p?.type, PacketType.PUBLISH);
  assert.equal(d.bufferedBytes, 0);
});

test('unsupported level: the answer is in the v5 format for a newer client, 3.x for an older one', () => {
  const newer = new Decoder();
  newer.push(raw(0x10, 'MQTT', 6, 2, [0, 0], 'id'));
  assert.throws(() => newer.next());
  assert.equal(newer.protocolVersion, 5);
  const older = new Decoder();
  older.push(raw(0x10, 'MQTT', 2, 2, [0, 0], 'id'));
  assert.throws(() => older.next());
  assert.equal(older.protocolVersion, 4);
});

test('a malformed v5 CONNECT still tells the broker to answer in v5', () => {
  const d = new Decoder();
  d.push(raw(0x10, 'MQTT', 5, 0x03, [0, 0], props(), 'id'));
  assert.throws(() => d.next(), (e: { reasonCode: number }) => e.reasonCode === 0x81);
  assert.equal(d.protocolVersion, 5);
});
