// Encodes any packet for any version into one Buffer: sizes first, then one allocation, then
// one pass of writes. Values the decoder would refuse are refused here with a TypeError, as
// they are programming errors of the caller, not something a peer did.

import {
  MAX_PACKET_ID, MAX_VARIABLE_BYTE_INTEGER, PacketType, PROTOCOL_NAME, PROTOCOL_NAME_V31,
  type ProtocolVersion,
} from './constants.js';
import type {
  AckPacket, AllProperties, AuthPacket, ConnackPacket, ConnectPacket, DisconnectPacket, Packet,
  SubackPacket, SubscribePacket, UnsubackPacket, UnsubscribePacket,
} from './packets.js';
import { propertiesSize, WILL, writeProperties, type PropertyContext } from './properties.js';
import { encodePublish } from './publish-encoder.js';
import { isValidReasonCode, SUBACK_FAILURE_V3 } from './reason-codes.js';
import { isSharedFilter, topicFilterError, topicNameError } from './topic.js';
import { isValidMqttString } from './utf8.js';
import { varintSize, Writer } from './writer.js';

/** Encodes a packet as it goes on the wire for `version`. */
export function encode(packet: Packet, version: ProtocolVersion): Buffer {
  switch (packet.type) {
    case PacketType.CONNECT: return encodeConnect(packet);
    case PacketType.CONNACK: return encodeConnack(packet, version);
    case PacketType.PUBLISH: return encodePublish(packet, version);
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP: return encodeAck(packet, version);
    case PacketType.SUBSCRIBE: return encodeSubscribe(packet, version);
    case PacketType.SUBACK: return encodeSuback(packet, version);
    case PacketType.UNSUBSCRIBE: return encodeUnsubscribe(packet, version);
    case PacketType.UNSUBACK: return encodeUnsuback(packet, version);
    case PacketType.PINGREQ: return Buffer.from([0xc0, 0]);
    case PacketType.PINGRESP: return Buffer.from([0xd0, 0]);
    case PacketType.DISCONNECT: return encodeDisconnect(packet, version);
    case PacketType.AUTH: return encodeAuth(packet, version);
    default: throw new TypeError(`unknown packet type ${(packet as { type: unknown }).type}`);
  }
}

/**
 * Allocates a packet of `remaining` body bytes and writes its fixed header. The last `omitted`
 * bytes of the body get no room: the caller sends them as a separate Buffer.
 */
export function startPacket(firstByte: number, remaining: number, omitted = 0): Writer {
  if (remaining > MAX_VARIABLE_BYTE_INTEGER) throw new TypeError(`packet body of ${remaining} bytes is too large`);
  const w = new Writer(Buffer.allocUnsafe(1 + varintSize(remaining) + remaining - omitted));
  w.u8(firstByte);
  w.varint(remaining);
  return w;
}

/** Size of a property set on the wire, its length prefix included. */
export function propertySetSize(props: AllProperties | undefined, ctx: PropertyContext): [total: number, inner: number] {
  const inner = propertiesSize(props, ctx);
  return [varintSize(inner) + inner, inner];
}

function writePropertySet(w: Writer, props: AllProperties | undefined, ctx: PropertyContext, inner: number): void {
  w.varint(inner);
  writeProperties(w, props, ctx);
}

export function stringSize(s: string, what: string): number {
  if (typeof s !== 'string' || !isValidMqttString(s)) {
    throw new TypeError(`${what} must be a string without U+0000 or lone surrogates`);
  }
  const n = Buffer.byteLength(s, 'utf8');
  if (n > 65535) throw new TypeError(`${what} is longer than 65535 bytes`);
  return 2 + n;
}

function binarySize(b: Buffer, what: string): number {
  if (!Buffer.isBuffer(b) || b.length > 65535) throw new TypeError(`${what} must be a Buffer of at most 65535 bytes`);
  return 2 + b.length;
}

export function checkPacketId(id: number): void {
  if (!Number.isInteger(id) || id < 1 || id > MAX_PACKET_ID) throw new TypeError(`packet identifier ${id} is not 1..65535`);
}

function checkReasonCode(type: number, code: number, version: ProtocolVersion): void {
  if (version === 5 && !isValidReasonCode(type, code)) {
    throw new TypeError(`0x${code.toString(16)} is not a valid reason code for packet type ${type}`);
  }
}

function encodeConnect(p: ConnectPacket): Buffer {
  const version = p.protocolVersion;
  if (version !== 3 && version !== 4 && version !== 5) throw new TypeError(`protocol version ${version} is not 3, 4 or 5`);
  const name = version === 3 ? PROTOCOL_NAME_V31 : PROTOCOL_NAME;
  if (version < 5 && p.password !== undefined && p.username === undefined) {
    throw new TypeError('MQTT 3.x needs a user name with a password');
  }
  if (!Number.isInteger(p.keepAlive) || p.keepAlive < 0 || p.keepAlive > 65535) throw new TypeError('keep alive is not 0..65535');
  let size = 2 + name.length + 1 + 1 + 2 + stringSize(p.clientId, 'client identifier');
  let props: [number, number] = [0, 0];
  let willProps: [number, number] = [0, 0];
  if (version === 5) {
    if (p.properties?.authenticationData !== undefined && p.properties.authenticationMethod === undefined) {
      throw new TypeError('authentication data needs an authentication method');
    }
    props = propertySetSize(p.properties, PacketType.CONNECT);
    size += props[0];
  }
  let flags = p.clean ? 0x02 : 0;
  const will = p.will;
  if (will !== undefined) {
    if (topicNameError(will.topic) !== undefined) throw new TypeError(`will topic: ${topicNameError(will.topic)}`);
    if (will.qos !== 0 && will.qos !== 1 && will.qos !== 2) throw new TypeError('will QoS is not 0, 1 or 2');
    flags |= 0x04 | (will.qos << 3) | (will.retain ? 0x20 : 0);
    size += stringSize(will.topic, 'will topic') + binarySize(will.payload, 'will payload');
    if (version === 5) {
      willProps = propertySetSize(will.properties, WILL);
      size += willProps[0];
    }
  }
  if (p.username !== undefined) {
    flags |= 0x80;
    size += stringSize(p.username, 'user name');
  }
  if (p.password !== undefined) {
    flags |= 0x40;
    size += binarySize(p.password, 'password');
  }
  const w = startPacket(0x10, size);
  w.utf8(name);
  w.u8(version);
  w.u8(flags);
  w.u16(p.keepAlive);
  if (version === 5) writePropertySet(w, p.properties, PacketType.CONNECT, props[1]);
  w.utf8(p.clientId);
  if (will !== undefined) {
    if (version === 5) writePropertySet(w, will.properties, WILL, willProps[1]);
    w.utf8(will.topic);
    w.binary(will.payload);
  }
  if (p.username !== undefined) w.utf8(p.username);
  if (p.password !== undefined) w.binary(p.password);
  return w.buf;
}

function encodeConnack(p: ConnackPacket, version: ProtocolVersion): Buffer {
  if (version === 5) checkReasonCode(PacketType.CONNACK, p.reasonCode, version);
  else if (!(p.reasonCode >= 0 && p.reasonCode <= 5)) throw new TypeError('a 3.x CONNACK return code is 0..5');
  const sessionPresent = p.sessionPresent && p.reasonCode === 0;
  const props = version === 5 ? propertySetSize(p.properties, PacketType.CONNACK) : [0, 0];
  const w = startPacket(0x20, 2 + props[0]);
  w.u8(sessionPresent ? 1 : 0);
  w.u8(p.reasonCode);
  if (version === 5) writePropertySet(w, p.properties, PacketType.CONNACK, props[1]);
  return w.buf;
}

const ACK_FIRST_BYTE = [0, 0, 0, 0, 0x40, 0x50, 0x62, 0x70];

function encodeAck(p: AckPacket<4 | 5 | 6 | 7>, version: ProtocolVersion): Buffer {
  checkPacketId(p.packetId);
  const first = ACK_FIRST_BYTE[p.type];
  const code = p.reasonCode ?? 0;
  if (version < 5) {
    const w = startPacket(first, 2);
    w.u16(p.packetId);
    return w.buf;
  }
  checkReasonCode(p.type, code, version);
  const props = propertySetSize(p.properties, p.type);
  // 3.4.2.1: Reason Code and properties may be left out when the code is 0 and there are none.
  const hasProps = props[1] > 0;
  const size = 2 + (hasProps ? 1 + props[0] : code !== 0 ? 1 : 0);
  const w = startPacket(first, size);
  w.u16(p.packetId);
  if (size > 2) w.u8(code);
  if (hasProps) writePropertySet(w, p.properties, p.type, props[1]);
  return w.buf;
}

function encodeSubscribe(p: SubscribePacket, version: ProtocolVersion): Buffer {
  checkPacketId(p.packetId);
  if (p.subscriptions.length === 0) throw new TypeError('SUBSCRIBE needs at least one subscription');
  const props = version === 5 ? propertySetSize(p.properties, PacketType.SUBSCRIBE) : [0, 0];
  let size = 2 + props[0];
  for (const s of p.subscriptions) {
    const why = topicFilterError(s.filter);
    if (why !== undefined) throw new TypeError(why);
    if (s.qos !== 0 && s.qos !== 1 && s.qos !== 2) throw new TypeError('subscription QoS is not 0, 1 or 2');
    if (version === 5 && s.noLocal && isSharedFilter(s.filter)) throw new TypeError('No Local on a shared subscription');
    if (s.retainHandling !== undefined && (s.retainHandling < 0 || s.retainHandling > 2)) throw new TypeError('retain handling is not 0..2');
    size += stringSize(s.filter, 'topic filter') + 1;
  }
  const w = startPacket(0x82, size);
  w.u16(p.packetId);
  if (version === 5) writePropertySet(w, p.properties, PacketType.SUBSCRIBE, props[1]);
  for (const s of p.subscriptions) {
    w.utf8(s.filter);
    let options: number = s.qos;
    if (version === 5) {
      options |= (s.noLocal ? 0x04 : 0) | (s.retainAsPublished ? 0x08 : 0) | ((s.retainHandling ?? 0) << 4);
    }
    w.u8(options);
  }
  return w.buf;
}

function encodeSuback(p: SubackPacket, version: ProtocolVersion): Buffer {
  checkPacketId(p.packetId);
  if (p.reasonCodes.length === 0) throw new TypeError('SUBACK needs at least one reason code');
  for (const code of p.reasonCodes) {
    if (version === 5) checkReasonCode(PacketType.SUBACK, code, version);
    else if (!(code <= 2 || code === SUBACK_FAILURE_V3)) throw new TypeError(`0x${code.toString(16)} is not a 3.x SUBACK code`);
  }
  const props = version === 5 ? propertySetSize(p.properties, PacketType.SUBACK) : [0, 0];
  const w = startPacket(0x90, 2 + props[0] + p.reasonCodes.length);
  w.u16(p.packetId);
  if (version === 5) writePropertySet(w, p.properties, PacketType.SUBACK, props[1]);
  for (const code of p.reasonCodes) w.u8(code);
  return w.buf;
}

function encodeUnsubscribe(p: UnsubscribePacket, version: ProtocolVersion): Buffer {
  checkPacketId(p.packetId);
  if (p.filters.length === 0) throw new TypeError('UNSUBSCRIBE needs at least one topic filter');
  const props = version === 5 ? propertySetSize(p.properties, PacketType.UNSUBSCRIBE) : [0, 0];
  let size = 2 + props[0];
  for (const f of p.filters) {
    const why = topicFilterError(f);
    if (why !== undefined) throw new TypeError(why);
    size += stringSize(f, 'topic filter');
  }
  const w = startPacket(0xa2, size);
  w.u16(p.packetId);
  if (version === 5) writePropertySet(w, p.properties, PacketType.UNSUBSCRIBE, props[1]);
  for (const f of p.filters) w.utf8(f);
  return w.buf;
}

function encodeUnsuback(p: UnsubackPacket, version: ProtocolVersion): Buffer {
  checkPacketId(p.packetId);
  if (version < 5) {
    const w = startPacket(0xb0, 2);
    w.u16(p.packetId);
    return w.buf;
  }
  if (p.reasonCodes.length === 0) throw new TypeError('UNSUBACK needs at least one reason code');
  for (const code of p.reasonCodes) checkReasonCode(PacketType.UNSUBACK, code, version);
  const props = propertySetSize(p.properties, PacketType.UNSUBACK);
  const w = startPacket(0xb0, 2 + props[0] + p.reasonCodes.length);
  w.u16(p.packetId);
  writePropertySet(w, p.properties, PacketType.UNSUBACK, props[1]);
  for (const code of p.reasonCodes) w.u8(code);
  return w.buf;
}

function encodeDisconnect(p: DisconnectPacket, version: ProtocolVersion): Buffer {
  if (version < 5) return Buffer.from([0xe0, 0]);
  const code = p.reasonCode ?? 0;
  checkReasonCode(PacketType.DISCONNECT, code, version);
  const props = propertySetSize(p.properties, PacketType.DISCONNECT);
  const hasProps = props[1] > 0;
  // 3.14.2.1: a normal disconnection without properties may have Remaining Length 0.
  const size = hasProps ? 1 + props[0] : code !== 0 ? 1 : 0;
  const w = startPacket(0xe0, size);
  if (size > 0) w.u8(code);
  if (hasProps) writePropertySet(w, p.properties, PacketType.DISCONNECT, props[1]);
  return w.buf;
}

function encodeAuth(p: AuthPacket, version: ProtocolVersion): Buffer {
  if (version < 5) throw new TypeError('AUTH exists only in MQTT 5');
  const code = p.reasonCode ?? 0;
  checkReasonCode(PacketType.AUTH, code, version);
  const props = propertySetSize(p.properties, PacketType.AUTH);
  if (code === 0 && props[1] === 0) return Buffer.from([0xf0, 0]);
  if (p.properties?.authenticationMethod === undefined) throw new TypeError('AUTH needs an authentication method');
  const w = startPacket(0xf0, 1 + props[0]);
  w.u8(code);
  writePropertySet(w, p.properties, PacketType.AUTH, props[1]);
  return w.buf;
}

