// MQTT 5 properties (section 2.2.2): the table of every property with its wire type and the
// packets that may carry it, and their decoding, validation, sizing and encoding.

import { MAX_VARIABLE_BYTE_INTEGER, PacketType } from './constants.js';
import { malformed, ProtocolError, protocolError } from './errors.js';
import type { AllProperties, UserProperty } from './packets.js';
import type { Reader } from './reader.js';
import { isValidMqttString } from './utf8.js';
import { varintSize, type Writer } from './writer.js';

/** Where a property set sits: a packet type, or WILL for the Will Properties of a CONNECT. */
export const WILL = 0;
export type PropertyContext = number;

type WireType = 'byte' | 'flag' | 'u16' | 'u32' | 'varint' | 'string' | 'binary' | 'pair';

interface PropertyDef {
  readonly id: number;
  readonly key: keyof AllProperties;
  readonly wire: WireType;
  /** Bit (1 << context) for each context that may carry it. */
  readonly contexts: number;
}

const {
  CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, SUBACK, UNSUBSCRIBE,
  UNSUBACK, DISCONNECT, AUTH,
} = PacketType;

const bits = (...contexts: number[]): number => contexts.reduce((m, c) => m | (1 << c), 0);

/** Table 2-4 of the MQTT 5 specification. */
export const PROPERTY_DEFS: readonly PropertyDef[] = [
  { id: 0x01, key: 'payloadFormatIndicator', wire: 'flag', contexts: bits(PUBLISH, WILL) },
  { id: 0x02, key: 'messageExpiryInterval', wire: 'u32', contexts: bits(PUBLISH, WILL) },
  { id: 0x03, key: 'contentType', wire: 'string', contexts: bits(PUBLISH, WILL) },
  { id: 0x08, key: 'responseTopic', wire: 'string', contexts: bits(PUBLISH, WILL) },
  { id: 0x09, key: 'correlationData', wire: 'binary', contexts: bits(PUBLISH, WILL) },
  { id: 0x0b, key: 'subscriptionIdentifier', wire: 'varint', contexts: bits(PUBLISH, SUBSCRIBE) },
  { id: 0x11, key: 'sessionExpiryInterval', wire: 'u32', contexts: bits(CONNECT, CONNACK, DISCONNECT) },
  { id: 0x12, key: 'assignedClientIdentifier', wire: 'string', contexts: bits(CONNACK) },
  { id: 0x13, key: 'serverKeepAlive', wire: 'u16', contexts: bits(CONNACK) },
  { id: 0x15, key: 'authenticationMethod', wire: 'string', contexts: bits(CONNECT, CONNACK, AUTH) },
  { id: 0x16, key: 'authenticationData', wire: 'binary', contexts: bits(CONNECT, CONNACK, AUTH) },
  { id: 0x17, key: 'requestProblemInformation', wire: 'flag', contexts: bits(CONNECT) },
  { id: 0x18, key: 'willDelayInterval', wire: 'u32', contexts: bits(WILL) },
  { id: 0x19, key: 'requestResponseInformation', wire: 'flag', contexts: bits(CONNECT) },
  { id: 0x1a, key: 'responseInformation', wire: 'string', contexts: bits(CONNACK) },
  { id: 0x1c, key: 'serverReference', wire: 'string', contexts: bits(CONNACK, DISCONNECT) },
  {
    id: 0x1f, key: 'reasonString', wire: 'string',
    contexts: bits(CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT, AUTH),
  },
  { id: 0x21, key: 'receiveMaximum', wire: 'u16', contexts: bits(CONNECT, CONNACK) },
  { id: 0x22, key: 'topicAliasMaximum', wire: 'u16', contexts: bits(CONNECT, CONNACK) },
  { id: 0x23, key: 'topicAlias', wire: 'u16', contexts: bits(PUBLISH) },
  { id: 0x24, key: 'maximumQoS', wire: 'byte', contexts: bits(CONNACK) },
  { id: 0x25, key: 'retainAvailable', wire: 'flag', contexts: bits(CONNACK) },
  {
    id: 0x26, key: 'userProperties', wire: 'pair',
    contexts: bits(CONNECT, CONNACK, PUBLISH, WILL, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, SUBACK,
      UNSUBSCRIBE, UNSUBACK, DISCONNECT, AUTH),
  },
  { id: 0x27, key: 'maximumPacketSize', wire: 'u32', contexts: bits(CONNECT, CONNACK) },
  { id: 0x28, key: 'wildcardSubscriptionAvailable', wire: 'flag', contexts: bits(CONNACK) },
  { id: 0x29, key: 'subscriptionIdentifiersAvailable', wire: 'flag', contexts: bits(CONNACK) },
  { id: 0x2a, key: 'sharedSubscriptionAvailable', wire: 'flag', contexts: bits(CONNACK) },
];

export const PropertyId = {
  PayloadFormatIndicator: 0x01, MessageExpiryInterval: 0x02, ContentType: 0x03, ResponseTopic: 0x08,
  CorrelationData: 0x09, SubscriptionIdentifier: 0x0b, SessionExpiryInterval: 0x11,
  AssignedClientIdentifier: 0x12, ServerKeepAlive: 0x13, AuthenticationMethod: 0x15,
  AuthenticationData: 0x16, RequestProblemInformation: 0x17, WillDelayInterval: 0x18,
  RequestResponseInformation: 0x19, ResponseInformation: 0x1a, ServerReference: 0x1c,
  ReasonString: 0x1f, ReceiveMaximum: 0x21, TopicAliasMaximum: 0x22, TopicAlias: 0x23,
  MaximumQoS: 0x24, RetainAvailable: 0x25, UserProperty: 0x26, MaximumPacketSize: 0x27,
  WildcardSubscriptionAvailable: 0x28, SubscriptionIdentifierAvailable: 0x29,
  SharedSubscriptionAvailable: 0x2a,
} as const;

const DEF_BY_ID: (PropertyDef | undefined)[] = [];
for (const def of PROPERTY_DEFS) DEF_BY_ID[def.id] = def;

/** Per context, its definitions in id order: the encoder walks only these. */
const DEFS_BY_CONTEXT: PropertyDef[][] = [];
for (let ctx = 0; ctx <= AUTH; ctx++) {
  DEFS_BY_CONTEXT[ctx] = PROPERTY_DEFS.filter((d) => (d.contexts & (1 << ctx)) !== 0);
}

/**
 * Rules on values beyond their wire type. Returns the error for a bad value, else undefined.
 * Shared by decoder and encoder, so the encoder never writes what the decoder refuses.
 */
function checkValue(id: number, value: number): ProtocolError | undefined {
  switch (id) {
    case PropertyId.ReceiveMaximum:
      // 3.1.2.11.3 / 3.2.2.3.3: "It is a Protocol Error to include the Receive Maximum value of 0".
      return value === 0 ? protocolError('Receive Maximum is 0') : undefined;
    case PropertyId.MaximumPacketSize:
      // 3.1.2.11.4 / 3.2.2.3.6: "It is a Protocol Error to include ... the value zero".
      return value === 0 ? protocolError('Maximum Packet Size is 0') : undefined;
    case PropertyId.TopicAlias:
      // [MQTT-3.3.2-8] A Topic Alias of 0 is not permitted.
      return value === 0 ? new ProtocolError(0x94, 'Topic Alias is 0') : undefined;
    case PropertyId.SubscriptionIdentifier:
      // 3.8.2.1.2: "It is a Protocol Error if the Subscription Identifier has a value of 0".
      return value === 0 ? protocolError('Subscription Identifier is 0') : undefined;
    case PropertyId.MaximumQoS:
      // 3.2.2.3.4: "It is a Protocol Error to include Maximum QoS more than once, or to have a value other than 0 or 1".
      return value > 1 ? protocolError('Maximum QoS is not 0 or 1') : undefined;
    default:
      return undefined;
  }
}

/**
 * Reads a property set (its Variable Byte Integer length, then the properties) for a context.
 * Returns undefined for an empty set, so most PUBLISH packets allocate nothing here.
 */
export function readProperties(r: Reader, ctx: PropertyContext): AllProperties | undefined {
  const length = r.varint('property length');
  if (length === 0) return undefined;
  if (length > r.remaining()) throw malformed('property length exceeds the packet');
  const end = r.pos + length;
  const outerEnd = r.end;
  r.end = end; // a property can never read past its set
  const props: AllProperties = {};
  let seenLow = 0;
  let seenHigh = 0;
  const ctxBit = 1 << ctx;
  while (r.pos < end) {
    const id = r.varint('property identifier');
    const def = DEF_BY_ID[id];
    // 2.2.2.2: an identifier not valid for the packet type is a Malformed Packet.
    if (def === undefined) throw malformed(`unknown property 0x${id.toString(16)}`);
    if ((def.contexts & ctxBit) === 0) throw malformed(`property ${def.key} is not allowed here`);
    if (def.wire === 'pair') {
      const key = r.utf8('user property name');
      const value = r.utf8('user property value');
      (props.userProperties ??= []).push([key, value]);
      continue;
    }
    if (id === PropertyId.SubscriptionIdentifier && ctx === PUBLISH) {
      // A PUBLISH to a client carries one identifier per matching subscription (3.3.2.3.8).
      const value = r.varint('subscription identifier');
      const err = checkValue(id, value);
      if (err !== undefined) throw err;
      (props.subscriptionIdentifiers ??= []).push(value);
      continue;
    }
    // Every other property may appear once: more is a Protocol Error (2.2.2.2 and each property's text).
    if (id < 32) {
      if ((seenLow & (1 << id)) !== 0) throw protocolError(`property ${def.key} appears twice`);
      seenLow |= 1 << id;
    } else {
      if ((seenHigh & (1 << (id - 32))) !== 0) throw protocolError(`property ${def.key} appears twice`);
      seenHigh |= 1 << (id - 32);
    }
    (props as Record<string, unknown>)[def.key] = readValue(r, def);
  }
  r.end = outerEnd;
  return props;
}

function readValue(r: Reader, def: PropertyDef): unknown {
  let value: number;
  switch (def.wire) {
    case 'string':
      return r.utf8(def.key);
    case 'binary':
      return r.binary(def.key);
    case 'flag':
      value = r.u8(def.key);
      // Each byte flag (Payload Format Indicator, Request Problem/Response Information and the
      // CONNACK availability flags) is 0 or 1; anything else is a Protocol Error.
      if (value > 1) throw protocolError(`${def.key} is ${value}, not 0 or 1`);
      return value === 1;
    case 'byte':
      value = r.u8(def.key);
      break;
    case 'u16':
      value = r.u16(def.key);
      break;
    case 'u32':
      value = r.u32(def.key);
      break;
    default:
      value = r.varint(def.key);
  }
  const err = checkValue(def.id, value);
  if (err !== undefined) throw err;
  return value;
}

/** Byte length of a property set's contents (without its own length prefix). Validates it. */
export function propertiesSize(props: AllProperties | undefined, ctx: PropertyContext): number {
  if (props === undefined) return 0;
  let size = 0;
  for (const def of DEFS_BY_CONTEXT[ctx]) {
    const value = (props as Record<string, unknown>)[def.key];
    if (value === undefined) {
      if (def.id === PropertyId.SubscriptionIdentifier && ctx === PUBLISH) size += subscriptionIdsSize(props);
      continue;
    }
    if (def.id === PropertyId.SubscriptionIdentifier && ctx === PUBLISH) {
      throw new TypeError('PUBLISH carries subscriptionIdentifiers (an array), not subscriptionIdentifier');
    }
    size += valueSize(def, value);
  }
  return size;
}

function subscriptionIdsSize(props: AllProperties): number {
  const ids = props.subscriptionIdentifiers;
  if (ids === undefined) return 0;
  let size = 0;
  for (const id of ids) {
    checkNumber(PropertyId.SubscriptionIdentifier, 'subscriptionIdentifiers', id, MAX_VARIABLE_BYTE_INTEGER);
    size += 1 + varintSize(id);
  }
  return size;
}

function checkNumber(id: number, key: string, value: unknown, max: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw new TypeError(`property ${key} must be an integer from 0 to ${max}`);
  }
  const err = checkValue(id, value);
  if (err !== undefined) throw new TypeError(`property ${key}: ${err.message}`);
}

function checkString(key: string, value: unknown): number {
  if (typeof value !== 'string' || !isValidMqttString(value)) {
    throw new TypeError(`property ${key} must be a string without U+0000 or lone surrogates`);
  }
  const n = Buffer.byteLength(value, 'utf8');
  if (n > 65535) throw new TypeError(`property ${key} is longer than 65535 bytes`);
  return n;
}

function valueSize(def: PropertyDef, value: unknown): number {
  const idSize = def.id < 128 ? 1 : 2;
  switch (def.wire) {
    case 'flag':
      if (typeof value !== 'boolean') throw new TypeError(`property ${def.key} must be a boolean`);
      return idSize + 1;
    case 'byte':
      checkNumber(def.id, def.key, value, 255);
      return idSize + 1;
    case 'u16':
      checkNumber(def.id, def.key, value, 65535);
      return idSize + 2;
    case 'u32':
      checkNumber(def.id, def.key, value, 0xffffffff);
      return idSize + 4;
    case 'varint':
      checkNumber(def.id, def.key, value, MAX_VARIABLE_BYTE_INTEGER);
      return idSize + varintSize(value as number);
    case 'string':
      return idSize + 2 + checkString(def.key, value);
    case 'binary':
      if (!Buffer.isBuffer(value) || value.length > 65535) {
        throw new TypeError(`property ${def.key} must be a Buffer of at most 65535 bytes`);
      }
      return idSize + 2 + value.length;
    default: {
      let size = 0;
      for (const pair of value as UserProperty[]) {
        size += idSize + 4 + checkString('userProperties key', pair[0]) + checkString('userProperties value', pair[1]);
      }
      return size;
    }
  }
}

/** Writes a property set's contents; `size` is what propertiesSize returned for it. */
export function writeProperties(w: Writer, props: AllProperties | undefined, ctx: PropertyContext): void {
  if (props === undefined) return;
  for (const def of DEFS_BY_CONTEXT[ctx]) {
    const value = (props as Record<string, unknown>)[def.key];
    if (value === undefined) {
      if (def.id === PropertyId.SubscriptionIdentifier && ctx === PUBLISH && props.subscriptionIdentifiers) {
        for (const id of props.subscriptionIdentifiers) {
          w.u8(def.id);
          w.varint(id);
        }
      }
      continue;
    }
    if (def.wire === 'pair') {
      for (const [k, v] of value as UserProperty[]) {
        w.u8(def.id);
        w.utf8(k);
        w.utf8(v);
      }
      continue;
    }
    w.u8(def.id);
    switch (def.wire) {
      case 'flag': w.u8(value ? 1 : 0); break;
      case 'byte': w.u8(value as number); break;
      case 'u16': w.u16(value as number); break;
      case 'u32': w.u32(value as number); break;
      case 'varint': w.varint(value as number); break;
      case 'string': w.utf8(value as string); break;
      default: w.binary(value as Buffer);
    }
  }
}
