// PUBLISH and its acknowledgements PUBACK, PUBREC, PUBREL, PUBCOMP (sections 3.3 to 3.7).

import { PacketType, type ProtocolVersion, type QoS } from './constants.js';
import { checkResponseTopic } from './decode-connect.js';
import { malformed, ProtocolError, protocolError } from './errors.js';
import type { AckPacket, PublishPacket, PublishProperties } from './packets.js';
import { readProperties } from './properties.js';
import type { Reader } from './reader.js';
import { isValidReasonCode } from './reason-codes.js';
import { topicNameError } from './topic.js';

/**
 * `fromClient`: the packet travels client to server, where the spec forbids some fields
 * (Subscription Identifier [MQTT-3.3.4-6]).
 */
export function decodePublish(r: Reader, flags: number, version: ProtocolVersion, fromClient: boolean): PublishPacket {
  const qos = (flags >> 1) & 0x03;
  // [MQTT-3.3.1-4] A PUBLISH must not have both QoS bits set.
  if (qos === 3) throw malformed('PUBLISH QoS is 3');
  const dup = (flags & 0x08) !== 0;
  // [MQTT-3.3.1-2] The DUP flag must be 0 for QoS 0 messages.
  if (dup && qos === 0) throw malformed('DUP is set on a QoS 0 PUBLISH');
  const topic = r.utf8('topic name');
  let packetId = 0;
  if (qos > 0) packetId = readPacketId(r);
  let properties: PublishProperties | undefined;
  if (version === 5) {
    properties = readProperties(r, PacketType.PUBLISH);
    if (properties !== undefined) {
      // [MQTT-3.3.4-6] A PUBLISH from a client must not carry a Subscription Identifier.
      if (fromClient && properties.subscriptionIdentifiers !== undefined) {
        throw protocolError('a client PUBLISH carries a Subscription Identifier');
      }
      if (properties.responseTopic !== undefined) checkResponseTopic(properties.responseTopic);
    }
  }
  if (topic.length === 0) {
    // 3.3.2.3.4: a zero length Topic Name is allowed only with a Topic Alias (v5).
    if (properties?.topicAlias === undefined) {
      throw version === 5
        ? protocolError('empty topic name without a topic alias')
        : malformed('empty topic name'); // [MQTT-4.7.3-1]
    }
  } else {
    const why = topicNameError(topic);
    // [MQTT-3.3.2-2] The Topic Name in a PUBLISH must not contain wildcards.
    if (why !== undefined) throw new ProtocolError(0x90, why);
  }
  return {
    type: PacketType.PUBLISH,
    topic,
    payload: r.rest(),
    qos: qos as QoS,
    retain: (flags & 0x01) !== 0,
    dup,
    packetId,
    properties,
  };
}

/** [MQTT-2.2.1-3] (v5) / [MQTT-2.3.1-1] (3.1.1): packets that need one carry a non-zero Packet Identifier. */
export function readPacketId(r: Reader): number {
  const id = r.u16('packet identifier');
  if (id === 0) throw protocolError('packet identifier is 0');
  return id;
}

export type PubAckType =
  | typeof PacketType.PUBACK | typeof PacketType.PUBREC | typeof PacketType.PUBREL | typeof PacketType.PUBCOMP;

export function decodeAck<T extends PubAckType>(r: Reader, type: T, version: ProtocolVersion): AckPacket<T> {
  const packetId = readPacketId(r);
  const packet: AckPacket<T> = { type, packetId, reasonCode: 0 };
  // 3.4.2.1: on v5 the Reason Code and Property Length may be omitted (Remaining Length 2 or 3).
  if (version === 5 && !r.atEnd()) {
    const code = r.u8('reason code');
    if (!isValidReasonCode(type, code)) throw protocolError(`0x${code.toString(16)} is not a valid reason code here`);
    packet.reasonCode = code;
    if (!r.atEnd()) {
      const props = readProperties(r, type);
      if (props !== undefined) packet.properties = props;
    }
  }
  r.expectEnd('acknowledgement');
  return packet;
}
