// SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK bodies (sections 3.8 to 3.11).

import { PacketType, type ProtocolVersion, type QoS } from './constants.js';
import { readPacketId } from './decode-publish.js';
import { malformed, ProtocolError, protocolError } from './errors.js';
import type { SubackPacket, SubscribePacket, Subscription, UnsubackPacket, UnsubscribePacket } from './packets.js';
import { readProperties } from './properties.js';
import type { Reader } from './reader.js';
import { isValidReasonCode, SUBACK_FAILURE_V3 } from './reason-codes.js';
import { isSharedFilter, topicFilterError } from './topic.js';

export function decodeSubscribe(r: Reader, version: ProtocolVersion): SubscribePacket {
  const packetId = readPacketId(r);
  const packet: SubscribePacket = { type: PacketType.SUBSCRIBE, packetId, subscriptions: [] };
  if (version === 5) {
    const props = readProperties(r, PacketType.SUBSCRIBE);
    if (props !== undefined) packet.properties = props;
  }
  // [MQTT-3.8.3-2] (v5) / [MQTT-3.8.3-3] (3.1.1): at least one filter.
  if (r.atEnd()) throw protocolError('SUBSCRIBE has no topic filter');
  while (!r.atEnd()) packet.subscriptions.push(readSubscription(r, version));
  return packet;
}

function readSubscription(r: Reader, version: ProtocolVersion): Subscription {
  const filter = r.utf8('topic filter');
  const options = r.u8('subscription options');
  // [MQTT-3.8.3-5] (v5): bits 7-6 reserved; [MQTT-3-8.3-4] (3.1.1): bits 7-2 reserved.
  if ((options & (version === 5 ? 0xc0 : 0xfc)) !== 0) throw malformed('reserved subscription option bits are set');
  const qos = options & 0x03;
  // 3.8.3.1: a Maximum QoS of 3 is a Malformed Packet.
  if (qos === 3) throw malformed('subscription QoS is 3');
  const retainHandling = (options >> 4) & 0x03;
  // 3.8.3.1: Retain Handling 3 is a Protocol Error.
  if (retainHandling === 3) throw protocolError('retain handling is 3');
  const noLocal = (options & 0x04) !== 0;
  const why = topicFilterError(filter);
  if (why !== undefined) throw new ProtocolError(0x8f, why);
  // [MQTT-3.8.3-4] No Local on a shared subscription is a Protocol Error.
  if (noLocal && isSharedFilter(filter)) throw protocolError('No Local on a shared subscription');
  return {
    filter,
    qos: qos as QoS,
    noLocal,
    retainAsPublished: (options & 0x08) !== 0,
    retainHandling: retainHandling as 0 | 1 | 2,
  };
}

export function decodeSuback(r: Reader, version: ProtocolVersion): SubackPacket {
  const packetId = readPacketId(r);
  const packet: SubackPacket = { type: PacketType.SUBACK, packetId, reasonCodes: [] };
  if (version === 5) {
    const props = readProperties(r, PacketType.SUBACK);
    if (props !== undefined) packet.properties = props;
  }
  if (r.atEnd()) throw protocolError('SUBACK has no reason code');
  while (!r.atEnd()) {
    const code = r.u8('suback reason code');
    const valid = version === 5 ? isValidReasonCode(PacketType.SUBACK, code) : code <= 2 || code === SUBACK_FAILURE_V3;
    // [MQTT-3.9.3-2] (3.1.1): return codes other than 0x00, 0x01, 0x02, 0x80 are reserved.
    if (!valid) throw protocolError(`0x${code.toString(16)} is not a SUBACK reason code`);
    packet.reasonCodes.push(code);
  }
  return packet;
}

export function decodeUnsubscribe(r: Reader, version: ProtocolVersion): UnsubscribePacket {
  const packetId = readPacketId(r);
  const packet: UnsubscribePacket = { type: PacketType.UNSUBSCRIBE, packetId, filters: [] };
  if (version === 5) {
    const props = readProperties(r, PacketType.UNSUBSCRIBE);
    if (props !== undefined) packet.properties = props;
  }
  // [MQTT-3.10.3-2] At least one topic filter.
  if (r.atEnd()) throw protocolError('UNSUBSCRIBE has no topic filter');
  while (!r.atEnd()) {
    const filter = r.utf8('topic filter');
    const why = topicFilterError(filter);
    if (why !== undefined) throw new ProtocolError(0x8f, why);
    packet.filters.push(filter);
  }
  return packet;
}

export function decodeUnsuback(r: Reader, version: ProtocolVersion): UnsubackPacket {
  const packetId = readPacketId(r);
  const packet: UnsubackPacket = { type: PacketType.UNSUBACK, packetId, reasonCodes: [] };
  if (version === 5) {
    const props = readProperties(r, PacketType.UNSUBACK);
    if (props !== undefined) packet.properties = props;
    // 3.11.3: one Reason Code per filter of the UNSUBSCRIBE, which has at least one.
    if (r.atEnd()) throw protocolError('UNSUBACK has no reason code');
    while (!r.atEnd()) {
      const code = r.u8('unsuback reason code');
      if (!isValidReasonCode(PacketType.UNSUBACK, code)) {
        throw protocolError(`0x${code.toString(16)} is not an UNSUBACK reason code`);
      }
      packet.reasonCodes.push(code);
    }
  }
  r.expectEnd('UNSUBACK');
  return packet;
}

