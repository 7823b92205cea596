// PUBLISH encoding, shaped for fan-out: a message is prepared once per variant (version x QoS x
// retain flag x properties) and every subscriber of that variant gets the same bytes. At QoS 0
// that is one shared Buffer; at QoS 1/2 each subscriber gets a copy of the small head with its
// own packet identifier, and the payload stays shared.

import { PacketType, type ProtocolVersion, type QoS } from './constants.js';
import { checkPacketId, propertySetSize, startPacket, stringSize } from './encoder.js';
import type { PublishPacket, PublishProperties } from './packets.js';
import { writeProperties } from './properties.js';
import { topicNameError } from './topic.js';
import { varintSize } from './writer.js';

/** Payloads up to this size are copied into the head, so a subscriber gets one Buffer. */
export const INLINE_PAYLOAD_LIMIT = 2048;

export interface PublishContent {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  properties?: PublishProperties | undefined;
}

export interface PreparedPublish {
  /** Fixed header, topic, packet identifier slot and properties; the payload too when inlined. */
  readonly head: Buffer;
  /** The payload when it is not inlined: written after the head, shared by all subscribers. */
  readonly tail: Buffer | undefined;
  /** Where the packet identifier sits in head; -1 at QoS 0. */
  readonly packetIdOffset: number;
  readonly qos: QoS;
  /** Bytes on the wire, head and tail together. */
  readonly size: number;
}

export function preparePublish(msg: PublishContent, version: ProtocolVersion): PreparedPublish {
  const { topic, payload, qos } = msg;
  if (qos !== 0 && qos !== 1 && qos !== 2) throw new TypeError(`QoS ${qos} is not 0, 1 or 2`);
  if (!Buffer.isBuffer(payload)) throw new TypeError('payload must be a Buffer');
  const props = msg.properties;
  if (topic.length === 0) {
    // 3.3.2.3.4: an empty topic name needs a Topic Alias, which exists only in v5.
    if (version < 5 || props?.topicAlias === undefined) throw new TypeError('empty topic name without a topic alias');
  } else {
    const why = topicNameError(topic);
    if (why !== undefined) throw new TypeError(why);
  }
  let headBody = stringSize(topic, 'topic name') + (qos > 0 ? 2 : 0);
  let propInner = 0;
  if (version === 5) {
    const [total, inner] = propertySetSize(props, PacketType.PUBLISH);
    headBody += total;
    propInner = inner;
  }
  const remaining = headBody + payload.length;
  const inline = payload.length <= INLINE_PAYLOAD_LIMIT;
  const w = startPacket(0x30 | (qos << 1) | (msg.retain ? 1 : 0), remaining, inline ? 0 : payload.length);
  w.utf8(topic);
  let packetIdOffset = -1;
  if (qos > 0) {
    packetIdOffset = w.pos;
    w.u16(0);
  }
  if (version === 5) {
    w.varint(propInner);
    writeProperties(w, props, PacketType.PUBLISH);
  }
  if (inline) w.bytes(payload);
  const size = 1 + varintSize(remaining) + remaining;
  return { head: w.buf, tail: inline ? undefined : payload, packetIdOffset, qos, size };
}

/**
 * The head for one subscriber: the shared head at QoS 0, else a copy with the packet
 * identifier (and DUP, for a re-send) written in. Write `prepared.tail` after it when set.
 */
export function publishHead(prepared: PreparedPublish, packetId: number, dup: boolean): Buffer {
  if (prepared.packetIdOffset < 0) return prepared.head;
  const head = Buffer.allocUnsafe(prepared.head.length);
  prepared.head.copy(head);
  if (dup) head[0] |= 0x08;
  head[prepared.packetIdOffset] = packetId >>> 8;
  head[prepared.packetIdOffset + 1] = packetId & 0xff;
  return head;
}

/** Encodes a whole PUBLISH packet into one Buffer. */
export function encodePublish(p: PublishPacket, version: ProtocolVersion): Buffer {
  if (p.qos > 0) checkPacketId(p.packetId);
  else if (p.dup) throw new TypeError('DUP on a QoS 0 PUBLISH'); // [MQTT-3.3.1-2]
  const prepared = preparePublish(p, version);
  const head = publishHead(prepared, p.packetId, p.dup);
  return prepared.tail === undefined ? head : Buffer.concat([head, prepared.tail], prepared.size);
}
