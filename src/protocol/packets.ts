// Packets as plain typed data: one interface per control packet, discriminated by `type`.
// Fields that exist only in some versions are optional; `properties` is v5 only.

import type { PacketType, ProtocolVersion, QoS } from './constants.js';

/** A User Property: a key and a value, order kept, keys may repeat [MQTT-3.3.2-18]. */
export type UserProperty = [key: string, value: string];

/** Every v5 property by its camel-cased spec name. Each packet's own set is a Pick of these. */
export interface AllProperties {
  payloadFormatIndicator?: boolean; // 0x01
  messageExpiryInterval?: number; // 0x02
  contentType?: string; // 0x03
  responseTopic?: string; // 0x08
  correlationData?: Buffer; // 0x09
  /** 0x0B in SUBSCRIBE: one identifier for the subscriptions it makes. */
  subscriptionIdentifier?: number;
  /** 0x0B in PUBLISH (server to client): every matching subscription's identifier. */
  subscriptionIdentifiers?: number[];
  sessionExpiryInterval?: number; // 0x11
  assignedClientIdentifier?: string; // 0x12
  serverKeepAlive?: number; // 0x13
  authenticationMethod?: string; // 0x15
  authenticationData?: Buffer; // 0x16
  requestProblemInformation?: boolean; // 0x17
  willDelayInterval?: number; // 0x18
  requestResponseInformation?: boolean; // 0x19
  responseInformation?: string; // 0x1A
  serverReference?: string; // 0x1C
  reasonString?: string; // 0x1F
  receiveMaximum?: number; // 0x21
  topicAliasMaximum?: number; // 0x22
  topicAlias?: number; // 0x23
  maximumQoS?: 0 | 1; // 0x24
  retainAvailable?: boolean; // 0x25
  userProperties?: UserProperty[]; // 0x26
  maximumPacketSize?: number; // 0x27
  wildcardSubscriptionAvailable?: boolean; // 0x28
  subscriptionIdentifiersAvailable?: boolean; // 0x29
  sharedSubscriptionAvailable?: boolean; // 0x2A
}

export type ConnectProperties = Pick<AllProperties,
  'sessionExpiryInterval' | 'receiveMaximum' | 'maximumPacketSize' | 'topicAliasMaximum' |
  'requestResponseInformation' | 'requestProblemInformation' | 'userProperties' |
  'authenticationMethod' | 'authenticationData'>;

export type WillProperties = Pick<AllProperties,
  'willDelayInterval' | 'payloadFormatIndicator' | 'messageExpiryInterval' | 'contentType' |
  'responseTopic' | 'correlationData' | 'userProperties'>;

export type ConnackProperties = Pick<AllProperties,
  'sessionExpiryInterval' | 'receiveMaximum' | 'maximumQoS' | 'retainAvailable' |
  'maximumPacketSize' | 'assignedClientIdentifier' | 'topicAliasMaximum' | 'reasonString' |
  'userProperties' | 'wildcardSubscriptionAvailable' | 'subscriptionIdentifiersAvailable' |
  'sharedSubscriptionAvailable' | 'serverKeepAlive' | 'responseInformation' | 'serverReference' |
  'authenticationMethod' | 'authenticationData'>;

export type PublishProperties = Pick<AllProperties,
  'payloadFormatIndicator' | 'messageExpiryInterval' | 'topicAlias' | 'responseTopic' |
  'correlationData' | 'userProperties' | 'subscriptionIdentifiers' | 'contentType'>;

/** PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK. */
export type AckProperties = Pick<AllProperties, 'reasonString' | 'userProperties'>;

export type SubscribeProperties = Pick<AllProperties, 'subscriptionIdentifier' | 'userProperties'>;
export type UnsubscribeProperties = Pick<AllProperties, 'userProperties'>;

export type DisconnectProperties = Pick<AllProperties,
  'sessionExpiryInterval' | 'reasonString' | 'userProperties' | 'serverReference'>;

export type AuthProperties = Pick<AllProperties,
  'authenticationMethod' | 'authenticationData' | 'reasonString' | 'userProperties'>;

export interface Will {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  properties?: WillProperties;
}

export interface ConnectPacket {
  type: typeof PacketType.CONNECT;
  protocolVersion: ProtocolVersion;
  /** Clean Session (3.x) or Clean Start (v5). */
  clean: boolean;
  keepAlive: number;
  clientId: string;
  will?: Will;
  username?: string;
  password?: Buffer;
  properties?: ConnectProperties;
}

export interface ConnackPacket {
  type: typeof PacketType.CONNACK;
  sessionPresent: boolean;
  /** v5 reason code, or the 3.x return code (0..5) on a 3.x connection. */
  reasonCode: number;
  properties?: ConnackProperties;
}

export interface PublishPacket {
  type: typeof PacketType.PUBLISH;
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  dup: boolean;
  /** 0 for QoS 0. */
  packetId: number;
  properties?: PublishProperties;
}

/** PUBACK, PUBREC, PUBREL and PUBCOMP share one shape. */
export interface AckPacket<T extends number> {
  type: T;
  packetId: number;
  /** v5 only; 0x00 on 3.x. */
  reasonCode: number;
  properties?: AckProperties;
}
export type PubackPacket = AckPacket<typeof PacketType.PUBACK>;
export type PubrecPacket = AckPacket<typeof PacketType.PUBREC>;
export type PubrelPacket = AckPacket<typeof PacketType.PUBREL>;
export type PubcompPacket = AckPacket<typeof PacketType.PUBCOMP>;

export interface Subscription {
  filter: string;
  qos: QoS;
  /** v5 subscription options; false / 0 on 3.x. */
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
}

export interface SubscribePacket {
  type: typeof PacketType.SUBSCRIBE;
  packetId: number;
  subscriptions: Subscription[];
  properties?: SubscribeProperties;
}

export interface SubackPacket {
  type: typeof PacketType.SUBACK;
  packetId: number;
  /** v5 reason codes, or 3.x return codes (0, 1, 2, 0x80). */
  reasonCodes: number[];
  properties?: AckProperties;
}

export interface UnsubscribePacket {
  type: typeof PacketType.UNSUBSCRIBE;
  packetId: number;
  filters: string[];
  properties?: UnsubscribeProperties;
}

export interface UnsubackPacket {
  type: typeof PacketType.UNSUBACK;
  packetId: number;
  /** v5 only: one per filter. Empty on 3.x. */
  reasonCodes: number[];
  properties?: AckProperties;
}

export interface PingreqPacket {
  type: typeof PacketType.PINGREQ;
}

export interface PingrespPacket {
  type: typeof PacketType.PINGRESP;
}

export interface DisconnectPacket {
  type: typeof PacketType.DISCONNECT;
  /** v5 only; 0x00 on 3.x. */
  reasonCode: number;
  properties?: DisconnectProperties;
}

export interface AuthPacket {
  type: typeof PacketType.AUTH;
  reasonCode: number;
  properties?: AuthProperties;
}

export type Packet =
  | ConnectPacket | ConnackPacket | PublishPacket
  | PubackPacket | PubrecPacket | PubrelPacket | PubcompPacket
  | SubscribePacket | SubackPacket | UnsubscribePacket | UnsubackPacket
  | PingreqPacket | PingrespPacket | DisconnectPacket | AuthPacket;
