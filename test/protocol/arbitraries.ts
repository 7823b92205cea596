// fast-check arbitraries of spec-valid MQTT packets (in the codec's own packet shape), shared
// by the differential, chunking and fuzz tests, plus small helpers to decode and compare.
//
// Every value generated here is one the MQTT 3.1 / 3.1.1 / 5.0 specifications allow the sender
// to put on the wire: strings without U+0000 or lone surrogates [MQTT-1.5.4-1] [MQTT-1.5.4-2],
// non-empty Topic Names without wildcards [MQTT-4.7.3-1] [MQTT-3.3.2-2], well-formed Topic
// Filters [MQTT-4.7.1-2] [MQTT-4.7.1-3], non-zero Packet Identifiers [MQTT-2.2.1-3], property
// values in their ranges, reason codes each packet may carry (Table 2-6 and each packet's table).

import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  Decoder, encode, isValidMqttString,
  type AckPacket, type AckProperties, type AuthPacket, type ConnackPacket, type ConnackProperties,
  type ConnectPacket, type ConnectProperties, type DisconnectPacket, type DisconnectProperties,
  type Packet, type ProtocolVersion, type PublishPacket, type PublishProperties, type QoS,
  type SubackPacket, type SubscribePacket, type Subscription, type UnsubackPacket,
  type UnsubscribePacket, type UserProperty, type Will, type WillProperties,
} from '../../src/protocol/index.js';

// ---------------------------------------------------------------------------------------------
// Scalars

const asciiChar = fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c));
/** U+0001..U+001F and U+007F..U+009F: "SHOULD NOT" (1.5.4), so allowed on the wire. */
const controlChar = fc.oneof(fc.integer({ min: 0x01, max: 0x1f }), fc.integer({ min: 0x7f, max: 0x9f }))
  .map((c) => String.fromCharCode(c));
/** BMP without the surrogate range; includes U+FEFF, which must not be stripped [MQTT-1.5.4-3]. */
const bmpChar = fc.oneof(
  fc.integer({ min: 0xa0, max: 0xd7ff }),
  fc.integer({ min: 0xe000, max: 0xffff }),
  fc.constantFrom(0xfeff, 0xffff, 0x00e9, 0x20ac),
).map((c) => String.fromCharCode(c));
/** Supplementary planes: a surrogate pair in JavaScript, 4 bytes of UTF-8. */
const astralChar = fc.integer({ min: 0x10000, max: 0x10ffff }).map((c) => String.fromCodePoint(c));

/** One code point of an MQTT UTF-8 string: anything but U+0000 and surrogates. */
export const mqttChar: fc.Arbitrary<string> = fc.oneof(
  { weight: 10, arbitrary: asciiChar },
  { weight: 1, arbitrary: controlChar },
  { weight: 3, arbitrary: bmpChar },
  { weight: 2, arbitrary: astralChar },
);

export function mqttString(maxLength = 12, minLength = 0): fc.Arbitrary<string> {
  return fc.string({ unit: mqttChar, minLength, maxLength }).filter(isValidMqttString);
}

/** A character of a topic level: no '/', '+' or '#'. */
const levelChar = mqttChar.filter((c) => c !== '/' && c !== '+' && c !== '#');
/** A topic level, possibly empty ("a//b" and "/a" are valid, 4.7.1.1). */
export const topicLevel = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: levelChar, maxLength: 6 }) },
  { weight: 1, arbitrary: fc.constantFrom('', 'a', 'sport', '$SYS', 'tennis', ' ') },
);

/** A Topic Name: at least one character, no wildcards [MQTT-4.7.3-1] [MQTT-3.3.2-2]. */
export const topicName: fc.Arbitrary<string> = fc.array(topicLevel, { minLength: 1, maxLength: 4 })
  .map((levels) => levels.join('/'))
  .filter((t) => t.length > 0);

/** A non-shared Topic Filter: '+' fills a level, '#' is last and fills a level (4.7.1). */
export const plainTopicFilter: fc.Arbitrary<string> = fc.tuple(
  fc.array(fc.oneof({ weight: 3, arbitrary: topicLevel }, { weight: 1, arbitrary: fc.constant('+') }), { minLength: 0, maxLength: 4 }),
  fc.boolean(),
).map(([levels, multi]) => (multi ? [...levels, '#'] : levels).join('/'))
  .filter((f) => f.length > 0 && !f.startsWith('$share/'));

/** `$share/{ShareName}/{filter}` (4.8.2): ShareName non-empty without '/', '+', '#'. */
export const sharedTopicFilter: fc.Arbitrary<string> = fc.tuple(
  fc.string({ unit: levelChar, minLength: 1, maxLength: 5 }),
  plainTopicFilter,
).map(([group, filter]) => `$share/${group}/${filter}`);

export const packetId = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 1, max: 65535 }) },
  { weight: 1, arbitrary: fc.constantFrom(1, 255, 256, 65535) },
);
export const qos: fc.Arbitrary<QoS> = fc.constantFrom(0, 1, 2);
export const u16 = fc.oneof(fc.integer({ min: 0, max: 65535 }), fc.constantFrom(0, 1, 65535));
export const u16NonZero = fc.oneof(fc.integer({ min: 1, max: 65535 }), fc.constantFrom(1, 65535));
export const u32 = fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff));
export const u32NonZero = fc.oneof(fc.integer({ min: 1, max: 0xffffffff }), fc.constantFrom(1, 0xffffffff));
/** A Variable Byte Integer identifier, 1..268435455 (3.8.2.1.2), with the 1..4-byte edges. */
export const subscriptionId = fc.oneof(
  fc.integer({ min: 1, max: 268_435_455 }),
  fc.constantFrom(1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 268_435_455),
);

export function bytes(maxLength = 24): fc.Arbitrary<Buffer> {
  return fc.uint8Array({ maxLength }).map((u) => Buffer.from(u));
}

function sized(min: number, max: number): fc.Arbitrary<Buffer> {
  return fc.integer({ min, max }).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })).map((u) => Buffer.from(u));
}

/**
 * A payload: mostly small, sometimes around the encoder's inline limit (2048 bytes), rarely long
 * enough for a 3-byte Remaining Length (16384 and more).
 */
export const payload: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 16, arbitrary: bytes(40) },
  { weight: 2, arbitrary: sized(2040, 4200) },
  { weight: 1, arbitrary: sized(16_370, 16_500) },
);

/** A UTF-8 payload, for Payload Format Indicator 1 [MQTT-3.3.2-4]. */
export const utf8Payload: fc.Arbitrary<Buffer> = mqttString(20).map((s) => Buffer.from(s, 'utf8'));

/** Keys drawn from a small pool so that repeated keys are common (3.3.2.3.7: a name may repeat). */
const userKey = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom('a', 'b', 'key', '1', '10', 'constructor', '__proto__', '') },
  { weight: 1, arbitrary: mqttString(8) },
);
export const userProperties: fc.Arbitrary<UserProperty[]> = fc.array(
  fc.tuple(userKey, fc.oneof(fc.constantFrom('', 'v', 'x'), mqttString(8))),
  { minLength: 1, maxLength: 5 },
);

// ---------------------------------------------------------------------------------------------
// Property sets (Table 2-4, with each property's range rule)

const opt = { requiredKeys: [] as [] };

/** Authentication Data only with an Authentication Method (3.1.2.11.10, 3.2.2.3.18). */
function withAuthRule<T extends { authenticationMethod?: string; authenticationData?: Buffer }>(p: T): T {
  if (p.authenticationData !== undefined && p.authenticationMethod === undefined) {
    const { authenticationData: _ignored, ...rest } = p;
    return rest as T;
  }
  return p;
}

export const connectProperties: fc.Arbitrary<ConnectProperties> = fc.record({
  sessionExpiryInterval: u32,
  receiveMaximum: u16NonZero, // 3.1.2.11.3: 0 is a Protocol Error
  maximumPacketSize: u32NonZero, // 3.1.2.11.4: 0 is a Protocol Error
  topicAliasMaximum: u16,
  requestResponseInformation: fc.boolean(),
  requestProblemInformation: fc.boolean(),
  userProperties,
  authenticationMethod: mqttString(10),
  authenticationData: bytes(),
}, opt).map(withAuthRule);

const willPropertiesBase = fc.record({
  willDelayInterval: u32,
  payloadFormatIndicator: fc.boolean(),
  messageExpiryInterval: u32,
  contentType: mqttString(10),
  responseTopic: topicName, // [MQTT-3.1.3-9] a Topic Name, no wildcards
  correlationData: bytes(),
  userProperties,
}, opt);

export const connackProperties: fc.Arbitrary<ConnackProperties> = fc.record({
  sessionExpiryInterval: u32,
  receiveMaximum: u16NonZero, // 3.2.2.3.3
  maximumQoS: fc.constantFrom(0 as const, 1 as const), // 3.2.2.3.4
  retainAvailable: fc.boolean(),
  maximumPacketSize: u32NonZero, // 3.2.2.3.6
  assignedClientIdentifier: mqttString(10),
  topicAliasMaximum: u16,
  reasonString: mqttString(12),
  userProperties,
  wildcardSubscriptionAvailable: fc.boolean(),
  subscriptionIdentifiersAvailable: fc.boolean(),
  sharedSubscriptionAvailable: fc.boolean(),
  serverKeepAlive: u16,
  responseInformation: mqttString(10),
  serverReference: mqttString(10),
  authenticationMethod: mqttString(10),
  authenticationData: bytes(),
}, opt).map(withAuthRule);

/** `fromServer`: only a PUBLISH to a client carries Subscription Identifiers [MQTT-3.3.4-6]. */
export function publishProperties(fromServer: boolean): fc.Arbitrary<PublishProperties> {
  return fc.record({
    payloadFormatIndicator: fc.boolean(),
    messageExpiryInterval: u32,
    topicAlias: u16NonZero, // [MQTT-3.3.2-8]: 0 is not permitted
    responseTopic: topicName, // [MQTT-3.3.2-13] [MQTT-3.3.2-14]
    correlationData: bytes(),
    userProperties,
    contentType: mqttString(10),
    ...(fromServer ? { subscriptionIdentifiers: fc.array(subscriptionId, { minLength: 1, maxLength: 3 }) } : {}),
  }, opt);
}

export const ackProperties: fc.Arbitrary<AckProperties> = fc.record({
  reasonString: mqttString(12),
  userProperties,
}, opt);

// ---------------------------------------------------------------------------------------------
// Packets

export const CONNACK_CODES_V5 = [0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c,
  0x90, 0x95, 0x97, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9f];
/** 3.4.2.1 / 3.5.2.1: PUBACK and PUBREC reason codes. */
export const PUBACK_CODES = [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99];
/** 3.6.2.1 / 3.7.2.1: PUBREL and PUBCOMP reason codes. */
export const PUBREL_CODES = [0x00, 0x92];
export const SUBACK_CODES_V5 = [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2];
export const UNSUBACK_CODES_V5 = [0x00, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91];
/** 3.14.2.1: DISCONNECT reason codes a Client may send. */
export const DISCONNECT_CODES_CLIENT = [0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99];
/** 3.14.2.1: DISCONNECT reason codes a Server may send (0x04 is Client only). */
export const DISCONNECT_CODES_SERVER = [0x00, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8d, 0x8e, 0x8f, 0x90,
  0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2];

export function willArb(version: ProtocolVersion): fc.Arbitrary<Will> {
  return fc.record({
    topic: topicName,
    payload: bytes(),
    utf8: utf8Payload,
    qos,
    retain: fc.boolean(),
    properties: version === 5 ? fc.option(willPropertiesBase, { nil: undefined }) : fc.constant(undefined),
  }).map(({ topic, payload: p, utf8, qos: q, retain, properties }) => {
    const will: Will = { topic, payload: p, qos: q, retain };
    if (properties !== undefined) {
      will.properties = properties as WillProperties;
      // 3.1.3.2.3: with Payload Format Indicator 1 the Will Payload is UTF-8 Encoded Character Data.
      if (properties.payloadFormatIndicator === true) will.payload = utf8;
    }
    return will;
  });
}

export function connectArb(version: ProtocolVersion): fc.Arbitrary<ConnectPacket> {
  return fc.record({
    clean: fc.boolean(),
    keepAlive: u16,
    // MQTT 3.1 (3.1, CONNECT payload): the Client Identifier is 1 to 23 characters.
    clientId: version === 3 ? mqttString(23, 1) : fc.oneof(mqttString(16), fc.constant('')),
    will: fc.option(willArb(version), { nil: undefined }),
    username: fc.option(mqttString(10), { nil: undefined }),
    password: fc.option(bytes(), { nil: undefined }),
    properties: version === 5 ? fc.option(connectProperties, { nil: undefined }) : fc.constant(undefined),
  }).map((r) => {
    const p: ConnectPacket = { type: 1, protocolVersion: version, clean: r.clean, keepAlive: r.keepAlive, clientId: r.clientId };
    // [MQTT-3.1.3-7] (3.1.1): a zero-byte ClientId needs CleanSession 1. (v5 lifts this, 3.1.3.1.)
    if (version === 4 && r.clientId === '') p.clean = true;
    if (r.will !== undefined) p.will = r.will;
    if (r.username !== undefined) p.username = r.username;
    // [MQTT-3.1.2-22] (3.1.1, and 3.1): no Password without a User Name. v5 allows it (3.1.2.9).
    if (r.password !== undefined && (version === 5 || r.username !== undefined)) p.password = r.password;
    if (r.properties !== undefined) p.properties = r.properties;
    return p;
  });
}

export function connackArb(version: ProtocolVersion): fc.Arbitrary<ConnackPacket> {
  return fc.record({
    sessionPresent: fc.boolean(),
    reasonCode: version === 5 ? fc.constantFrom(...CONNACK_CODES_V5) : fc.integer({ min: 0, max: 5 }),
    properties: version === 5 ? fc.option(connackProperties, { nil: undefined }) : fc.constant(undefined),
  }).map((r) => {
    // [MQTT-3.2.2-6] (v5) / [MQTT-3.2.2-4] (3.1.1): a refusal has Session Present 0. MQTT 3.1 has
    // no Session Present flag at all (the byte is reserved).
    const p: ConnackPacket = { type: 2, sessionPresent: r.sessionPresent && r.reasonCode === 0 && version !== 3, reasonCode: r.reasonCode };
    if (r.properties !== undefined) p.properties = r.properties;
    return p;
  });
}

/** `fromServer` decides whether Subscription Identifiers may appear (v5). */
export function publishArb(version: ProtocolVersion, fromServer: boolean): fc.Arbitrary<PublishPacket> {
  return fc.record({
    topic: topicName,
    emptyTopic: fc.boolean(),
    payload,
    utf8: utf8Payload,
    qos,
    retain: fc.boolean(),
    dup: fc.boolean(),
    packetId,
    properties: version === 5 ? fc.option(publishProperties(fromServer), { nil: undefined }) : fc.constant(undefined),
  }).map((r) => {
    const p: PublishPacket = {
      type: 3, topic: r.topic, payload: r.payload, qos: r.qos, retain: r.retain,
      // [MQTT-3.3.1-2] DUP is 0 on QoS 0; [MQTT-2.2.1-2] no Packet Identifier on QoS 0.
      dup: r.qos > 0 && r.dup,
      packetId: r.qos > 0 ? r.packetId : 0,
    };
    if (r.properties !== undefined) {
      p.properties = r.properties;
      // 3.3.2.3.4: a zero-length Topic Name is allowed with a Topic Alias.
      if (r.emptyTopic && r.properties.topicAlias !== undefined) p.topic = '';
      // [MQTT-3.3.2-4]: Payload Format Indicator 1 means a UTF-8 payload.
      if (r.properties.payloadFormatIndicator === true) p.payload = r.utf8;
    }
    return p;
  });
}

export type AckType = 4 | 5 | 6 | 7;

export function ackArb(type: AckType, version: ProtocolVersion): fc.Arbitrary<AckPacket<AckType>> {
  const codes = type === 4 || type === 5 ? PUBACK_CODES : PUBREL_CODES;
  return fc.record({
    packetId,
    reasonCode: version === 5 ? fc.constantFrom(...codes) : fc.constant(0),
    properties: version === 5 ? fc.option(ackProperties, { nil: undefined }) : fc.constant(undefined),
  }).map((r) => {
    const p: AckPacket<AckType> = { type, packetId: r.packetId, reasonCode: r.reasonCode };
    if (r.properties !== undefined) p.properties = r.properties;
    return p;
  });
}

function subscriptionArb(version: ProtocolVersion): fc.Arbitrary<Subscription> {
  if (version < 5) {
    return fc.record({ filter: plainTopicFilter, qos })
      .map(({ filter, qos: q }) => ({ filter, qos: q, noLocal: false, retainAsPublished: false, retainHandling: 0 as const }));
  }
  return fc.record({
    shared: fc.boolean(),
    plain: plainTopicFilter,
    sharedFilter: sharedTopicFilter,
    qos,
    noLocal: fc.boolean(),
    retainAsPublished: fc.boolean(),
    retainHandling: fc.constantFrom(0 as const, 1 as const, 2 as const),
  }).map((r) => ({
    filter: r.shared ? r.sharedFilter : r.plain,
    qos: r.qos,
    // [MQTT-3.8.3-4] No Local must not be 1 on a Shared Subscription.
    noLocal: r.noLocal && !r.shared,
    retainAsPublished: r.retainAsPublished,
    retainHandling: r.retainHandling,
  }));
}

export function subscribeArb(version: ProtocolVersion): fc.Arbitrary<SubscribePacket> {
  return fc.record({
    packetId,
    // [MQTT-3.8.3-2] (v5) / [MQTT-3.8.3-3] (3.1.1): at least one subscription.
    subscriptions: fc.array(subscriptionArb(version), { minLength: 1, maxLength: 4 }),
    properties: version === 5
      ? fc.option(fc.record({ subscriptionIdentifier: subscriptionId, userProperties }, opt), { nil: undefined })
      : fc.constant(undefined),
  }).map((r) => {
    const p: SubscribePacket = { type: 8, packetId: r.packetId, subscriptions: r.subscriptions };
    if (r.properties !== undefined) p.properties = r.properties;
    return p;
  });
}

export function subackArb(version: ProtocolVersion): fc.Arbitrary<SubackPacket> {
  // 3.1.1 3.9.3: 0x00, 0x01, 0x02, 0x80. MQTT 3.1 has no failure code: granted QoS only.
  const codes = version === 5 ? SUBACK_CODES_V5 : version === 4 ? [0, 1, 2, 0x80] : [0, 1, 2];
  return fc.record({
    packetId,
    reasonCodes: fc.array(fc.constantFrom(...codes), { minLength: 1, maxLength: 5 }),
    properties: version === 5 ? fc.option(ackProperties, { nil: undefined }) : fc.constant(undefined),
  }).map((r) => {
    const p: SubackPacket = { type: 9, packetId: r.packetId, reasonCodes: r.reasonCodes };
    if (r.properties !== undefined) p.properties = r.properties;
    return p;
  });
}

export function unsubscribeArb(version: ProtocolVersion): fc.Arbitrary<UnsubscribePacket> {
  return fc.record({
    packetId,
    filters: fc.array(version === 5 ? fc.oneof(plainTopicFilter, sharedTopicFilter) : plainTopicFilter, { minLength: 1, maxLength: 4 }),
    properties: version === 5 ? fc.option(fc.record({ userProperties }, opt), { nil: undefined }) : fc.constant(undefined),
  }).map((r) => {
    const p: UnsubscribePacket = { type: 10, packetId: r.packetId, filters: r.filters };
    if (r.properties !== undefined) p.properties = r.properties;
    return p;
  });
}

export function unsubackArb(version: ProtocolVersion): fc.Arbitrary<UnsubackPacket> {
  return fc.record({
    packetId,
    // 3.11.3 (v5): one Reason Code per Topic Filter, at least one. 3.x UNSUBACK has none.
    reasonCodes: version === 5 ? fc.array(fc.constantFrom(...UNSUBACK_CODES_V5), { minLength: 1, maxLength: 5 }) : fc.constant([] as number[]),
    properties: version === 5 ? fc.option(ackProperties, { nil: undefined }) : fc.constant(undefined),
  }).map((r) => {
    const p: UnsubackPacket = { type: 11, packetId: r.packetId, reasonCodes: r.reasonCodes };
    if (r.properties !== undefined) p.properties = r.properties;
    return p;
  });
}

/**
 * `fromServer`: a Server may send DISCONNECT only in v5 (3.14), never with a Session Expiry
 * Interval [MQTT-3.14.2-2]; Server Reference is for a Server to send (3.14.2.2.5).
 */
export function disconnectArb(version: ProtocolVersion, fromServer: boolean): fc.Arbitrary<DisconnectPacket> {
  if (version < 5) return fc.constant({ type: 14, reasonCode: 0 } as DisconnectPacket);
  const props: fc.Arbitrary<DisconnectProperties> = fromServer
    ? fc.record({ reasonString: mqttString(12), userProperties, serverReference: mqttString(10) }, opt)
    : fc.record({ sessionExpiryInterval: u32, reasonString: mqttString(12), userProperties }, opt);
  return fc.record({
    reasonCode: fc.constantFrom(...(fromServer ? DISCONNECT_CODES_SERVER : DISCONNECT_CODES_CLIENT)),
    properties: fc.option(props, { nil: undefined }),
  }).map((r) => {
    const p: DisconnectPacket = { type: 14, reasonCode: r.reasonCode };
    if (r.properties !== undefined) p.properties = r.properties;
    return p;
  });
}

/**
 * AUTH (v5 only). 3.15.2.1: a Client sends 0x18 (continue) or 0x19 (re-authenticate), a Server
 * 0x00 (success) or 0x18. 3.15.2.2.2: the Authentication Method is always there.
 */
export function authArb(fromServer: boolean): fc.Arbitrary<AuthPacket> {
  return fc.record({
    reasonCode: fc.constantFrom(...(fromServer ? [0x00, 0x18] : [0x18, 0x19])),
    authenticationMethod: mqttString(10),
    rest: fc.record({ authenticationData: bytes(), reasonString: mqttString(12), userProperties }, opt),
  }).map((r) => ({ type: 15, reasonCode: r.reasonCode, properties: { authenticationMethod: r.authenticationMethod, ...r.rest } }));
}

/** Any packet a Client sends, except CONNECT (which opens the stream). */
export function clientPacketArb(version: ProtocolVersion): fc.Arbitrary<Packet> {
  const arbs: fc.Arbitrary<Packet>[] = [
    publishArb(version, false), ackArb(4, version), ackArb(5, version), ackArb(6, version), ackArb(7, version),
    subscribeArb(version), unsubscribeArb(version), fc.constant({ type: 12 } as Packet), disconnectArb(version, false),
  ];
  if (version === 5) arbs.push(authArb(false));
  return fc.oneof(...arbs);
}

/** Any packet a Server sends. */
export function serverPacketArb(version: ProtocolVersion): fc.Arbitrary<Packet> {
  const arbs: fc.Arbitrary<Packet>[] = [
    connackArb(version), publishArb(version, true), ackArb(4, version), ackArb(5, version), ackArb(6, version),
    ackArb(7, version), subackArb(version), unsubackArb(version), fc.constant({ type: 13 } as Packet),
  ];
  if (version === 5) arbs.push(disconnectArb(version, true), authArb(true));
  return fc.oneof(...arbs);
}

export interface PacketStream {
  version: ProtocolVersion;
  side: 'server' | 'client';
  packets: Packet[];
}

/**
 * A stream as one end receives it: what a Client sends (CONNECT first) for side 'server', or
 * what a Server sends for side 'client'. Each packet is valid on its own; rules that tie packets
 * of a session together (Topic Alias mappings and maximums, Receive Maximum, a DISCONNECT's
 * Session Expiry Interval against CONNECT's, packet identifiers in flight) belong to the
 * session layer, which the codec does not see, and are not modelled.
 */
export function streamArb(version: ProtocolVersion, side: 'server' | 'client', maxPackets = 6): fc.Arbitrary<PacketStream> {
  if (side === 'server') {
    return fc.tuple(connectArb(version), fc.array(clientPacketArb(version), { maxLength: maxPackets }))
      .map(([connect, rest]) => ({ version, side, packets: [connect, ...rest] }));
  }
  return fc.array(serverPacketArb(version), { minLength: 1, maxLength: maxPackets })
    .map((packets) => ({ version, side, packets }));
}

// ---------------------------------------------------------------------------------------------
// Decoding and comparing

export function newDecoder(version: ProtocolVersion, side: 'server' | 'client'): Decoder {
  return side === 'server' ? new Decoder() : new Decoder({ side: 'client', protocolVersion: version });
}

/** A server-side decoder that has read a minimal CONNECT of this version. */
export function connectedServerDecoder(version: ProtocolVersion): Decoder {
  const d = new Decoder();
  d.push(encode({ type: 1, protocolVersion: version, clean: true, keepAlive: 0, clientId: 'c' }, version));
  assert.equal(d.next()?.type, 1);
  return d;
}

/** Pushes the chunks one by one, taking every packet that is complete after each push. */
export function decodeChunks(d: Decoder, chunks: readonly Buffer[]): Packet[] {
  const out: Packet[] = [];
  for (const chunk of chunks) {
    d.push(chunk);
    for (let p = d.next(); p !== undefined; p = d.next()) out.push(p);
  }
  return out;
}

export function encodeStream(s: PacketStream): Buffer[] {
  return s.packets.map((p) => encode(p, s.version));
}

/**
 * A packet as plain data for comparison: no undefined fields, no empty property sets, Buffers
 * copied, and User Properties in a stable order of their keys (values of one key keep their
 * order). The sort is only for comparing with mqtt-packet, whose object form cannot keep the
 * order of interleaved keys; `keepUserPropertyOrder` skips it.
 */
export function canon(value: unknown, keepUserPropertyOrder = false): unknown {
  if (Buffer.isBuffer(value)) return Buffer.from(value);
  if (Array.isArray(value)) return value.map((v) => canon(v, keepUserPropertyOrder));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined) continue;
    if (k === 'properties') {
      const props = canon(v, keepUserPropertyOrder) as Record<string, unknown>;
      for (const [pk, pv] of Object.entries(props)) if (Array.isArray(pv) && pv.length === 0) delete props[pk];
      if (Array.isArray(props.userProperties) && !keepUserPropertyOrder) {
        props.userProperties = [...(props.userProperties as UserProperty[])]
          .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      }
      if (Object.keys(props).length > 0) out[k] = props;
      continue;
    }
    out[k] = canon(v, keepUserPropertyOrder);
  }
  return out;
}

export const VERSIONS: readonly ProtocolVersion[] = [3, 4, 5];
