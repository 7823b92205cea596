// PUBLISH encoding, shaped for fan-out: a message is prepared once per variant (version x QoS x
// retain flag x properties) and every subscriber of that variant gets the same bytes. At QoS 0
// that is one shared Buffer; at QoS 1/2 each subscriber gets a copy of the small head with its
// own packet identifier, and the payload stays shared.

import { PacketType, type ProtocolVersion, type QoS } from './constants.js';
import { checkPacketId, startPacket, stringSize } from './encoder.js';
import type { PublishPacket, PublishProperties } from './packets.js';
import { propertiesSize, writeProperties } from './properties.js';
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
  return writePublish(msg, version, 0, false, INLINE_PAYLOAD_LIMIT);
}

/**
 * Encodes a PUBLISH with the packet identifier and DUP written in place. Payloads above
 * `inlineLimit` are left out of the head and returned as the tail.
 */
function writePublish(msg: PublishContent, version: ProtocolVersion, packetId: number, dup: boolean, inlineLimit: number): PreparedPublish {
  const { topic, payload, qos } = msg;
  if (qos !== 0 && qos !== 1 && qos !== 2) throw new TypeError(`QoS ${qos} is not 0, 1 or 2`);
  if (!Buffer.isBuffer(payload)) throw new TypeError('payload must be a Buffer');
  const props = msg.properties;
  // One pass over the topic: length in bytes when it is plain ASCII without wildcards or NUL,
  // -1 when it has other characters (checked and written the slow way), throws when invalid.
  let topicBytes = asciiTopicLength(topic);
  if (topic.length === 0) {
    // 3.3.2.3.4: an empty topic name needs a Topic Alias, which exists only in v5.
    if (version < 5 || props?.topicAlias === undefined) throw new TypeError('empty topic name without a topic alias');
  } else if (topicBytes < 0) {
    const why = topicNameError(topic);
    if (why !== undefined) throw new TypeError(why);
    topicBytes = stringSize(topic, 'topic name') - 2;
  }
  let headBody = 2 + topicBytes + (qos > 0 ? 2 : 0);
  let propInner = 0;
  if (version === 5) {
    propInner = propertiesSize(props, PacketType.PUBLISH);
    headBody += varintSize(propInner) + propInner;
  }
  const remaining = headBody + payload.length;
  const inline = payload.length <= inlineLimit;
  const w = startPacket(0x30 | (dup ? 0x08 : 0) | (qos << 1) | (msg.retain ? 1 : 0), remaining, inline ? 0 : payload.length);
  const buf = w.buf;
  let pos = w.pos;
  buf[pos++] = topicBytes >>> 8;
  buf[pos++] = topicBytes & 0xff;
  if (topicBytes === topic.length) {
    for (let i = 0; i < topicBytes; i++) buf[pos + i] = topic.charCodeAt(i);
  } else {
    buf.write(topic, pos, 'utf8');
  }
  pos += topicBytes;
  let packetIdOffset = -1;
  if (qos > 0) {
    packetIdOffset = pos;
    buf[pos++] = packetId >>> 8;
    buf[pos++] = packetId & 0xff;
  }
  w.pos = pos;
  if (version === 5) {
    w.varint(propInner);
    writeProperties(w, props, PacketType.PUBLISH);
  }
  if (inline) w.bytes(payload);
  const size = 1 + varintSize(remaining) + remaining;
  return { head: buf, tail: inline ? undefined : payload, packetIdOffset, qos, size };
}

/** Byte length of a topic of printable ASCII without `+`, `#` or NUL; -1 otherwise. */
function asciiTopicLength(topic: string): number {
  const n = topic.length;
  if (n > 65535) return -1;
  for (let i = 0; i < n; i++) {
    const c = topic.charCodeAt(i);
    if (c === 0 || c === 0x2b || c === 0x23 || c >= 0x80) return -1;
  }
  return n;
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
  return writePublish(p, version, p.qos > 0 ? p.packetId : 0, p.dup, Infinity).head;
}
