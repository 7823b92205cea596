// Every MQTT 5 reason code as a named constant, and one table saying which packets may carry
// each code and what a 3.x CONNACK says instead. The broker turns errors into packets with it.

import { PacketType } from './constants.js';

export const ReasonCode = {
  Success: 0x00,
  NormalDisconnection: 0x00,
  GrantedQoS0: 0x00,
  GrantedQoS1: 0x01,
  GrantedQoS2: 0x02,
  DisconnectWithWillMessage: 0x04,
  NoMatchingSubscribers: 0x10,
  NoSubscriptionExisted: 0x11,
  ContinueAuthentication: 0x18,
  ReAuthenticate: 0x19,
  UnspecifiedError: 0x80,
  MalformedPacket: 0x81,
  ProtocolError: 0x82,
  ImplementationSpecificError: 0x83,
  UnsupportedProtocolVersion: 0x84,
  ClientIdentifierNotValid: 0x85,
  BadUserNameOrPassword: 0x86,
  NotAuthorized: 0x87,
  ServerUnavailable: 0x88,
  ServerBusy: 0x89,
  Banned: 0x8a,
  ServerShuttingDown: 0x8b,
  BadAuthenticationMethod: 0x8c,
  KeepAliveTimeout: 0x8d,
  SessionTakenOver: 0x8e,
  TopicFilterInvalid: 0x8f,
  TopicNameInvalid: 0x90,
  PacketIdentifierInUse: 0x91,
  PacketIdentifierNotFound: 0x92,
  ReceiveMaximumExceeded: 0x93,
  TopicAliasInvalid: 0x94,
  PacketTooLarge: 0x95,
  MessageRateTooHigh: 0x96,
  QuotaExceeded: 0x97,
  AdministrativeAction: 0x98,
  PayloadFormatInvalid: 0x99,
  RetainNotSupported: 0x9a,
  QoSNotSupported: 0x9b,
  UseAnotherServer: 0x9c,
  ServerMoved: 0x9d,
  SharedSubscriptionsNotSupported: 0x9e,
  ConnectionRateExceeded: 0x9f,
  MaximumConnectTime: 0xa0,
  SubscriptionIdentifiersNotSupported: 0xa1,
  WildcardSubscriptionsNotSupported: 0xa2,
} as const;

/** MQTT 3.x CONNACK return codes [MQTT-3.2.2-4..5]. */
export const ConnackReturnCodeV3 = {
  Accepted: 0x00,
  UnacceptableProtocolVersion: 0x01,
  IdentifierRejected: 0x02,
  ServerUnavailable: 0x03,
  BadUserNameOrPassword: 0x04,
  NotAuthorized: 0x05,
} as const;

/** A 3.x SUBACK failure return code (3.1.1 only; 3.1 has none). */
export const SUBACK_FAILURE_V3 = 0x80;

interface ReasonCodeInfo {
  readonly name: string;
  /** Packet types that may carry this code. */
  readonly packets: readonly number[];
  /** The 3.x CONNACK return code a 3.x client is told instead, where one exists. */
  readonly v3Connack?: number;
}

const { CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT, AUTH } = PacketType;
const ACKS = [PUBACK, PUBREC];

const table = new Map<number, ReasonCodeInfo>();
function row(code: number, name: string, packets: number[], v3Connack?: number): void {
  table.set(code, v3Connack === undefined ? { name, packets } : { name, packets, v3Connack });
}
// One row per code; 0x00 is Success, Normal disconnection or Granted QoS 0 by packet.
row(0x00, 'Success', [CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT, AUTH], 0x00);
row(0x01, 'Granted QoS 1', [SUBACK]);
row(0x02, 'Granted QoS 2', [SUBACK]);
row(0x04, 'Disconnect with Will Message', [DISCONNECT]);
row(0x10, 'No matching subscribers', ACKS);
row(0x11, 'No subscription existed', [UNSUBACK]);
row(0x18, 'Continue authentication', [AUTH]);
row(0x19, 'Re-authenticate', [AUTH]);
row(0x80, 'Unspecified error', [CONNACK, PUBACK, PUBREC, SUBACK, UNSUBACK, DISCONNECT], 0x03);
row(0x81, 'Malformed Packet', [CONNACK, DISCONNECT]);
row(0x82, 'Protocol Error', [CONNACK, DISCONNECT]);
row(0x83, 'Implementation specific error', [CONNACK, PUBACK, PUBREC, SUBACK, UNSUBACK, DISCONNECT], 0x03);
row(0x84, 'Unsupported Protocol Version', [CONNACK], 0x01);
row(0x85, 'Client Identifier not valid', [CONNACK], 0x02);
row(0x86, 'Bad User Name or Password', [CONNACK], 0x04);
row(0x87, 'Not authorized', [CONNACK, PUBACK, PUBREC, SUBACK, UNSUBACK, DISCONNECT], 0x05);
row(0x88, 'Server unavailable', [CONNACK], 0x03);
row(0x89, 'Server busy', [CONNACK, DISCONNECT], 0x03);
row(0x8a, 'Banned', [CONNACK], 0x05);
row(0x8b, 'Server shutting down', [DISCONNECT]);
row(0x8c, 'Bad authentication method', [CONNACK, DISCONNECT], 0x04);
row(0x8d, 'Keep Alive timeout', [DISCONNECT]);
row(0x8e, 'Session taken over', [DISCONNECT]);
row(0x8f, 'Topic Filter invalid', [SUBACK, UNSUBACK, DISCONNECT]);
row(0x90, 'Topic Name invalid', [CONNACK, PUBACK, PUBREC, DISCONNECT]);
row(0x91, 'Packet Identifier in use', [PUBACK, PUBREC, SUBACK, UNSUBACK]);
row(0x92, 'Packet Identifier not found', [PUBREL, PUBCOMP]);
row(0x93, 'Receive Maximum exceeded', [DISCONNECT]);
row(0x94, 'Topic Alias invalid', [DISCONNECT]);
row(0x95, 'Packet too large', [CONNACK, DISCONNECT]);
row(0x96, 'Message rate too high', [DISCONNECT]);
row(0x97, 'Quota exceeded', [CONNACK, PUBACK, PUBREC, SUBACK, DISCONNECT], 0x03);
row(0x98, 'Administrative action', [DISCONNECT]);
row(0x99, 'Payload format invalid', [CONNACK, PUBACK, PUBREC, DISCONNECT]);
row(0x9a, 'Retain not supported', [CONNACK, DISCONNECT]);
row(0x9b, 'QoS not supported', [CONNACK, DISCONNECT]);
row(0x9c, 'Use another server', [CONNACK, DISCONNECT], 0x03);
row(0x9d, 'Server moved', [CONNACK, DISCONNECT], 0x03);
row(0x9e, 'Shared Subscriptions not supported', [SUBACK, DISCONNECT]);
row(0x9f, 'Connection rate exceeded', [CONNACK, DISCONNECT], 0x03);
row(0xa0, 'Maximum connect time', [DISCONNECT]);
row(0xa1, 'Subscription Identifiers not supported', [SUBACK, DISCONNECT]);
row(0xa2, 'Wildcard Subscriptions not supported', [SUBACK, DISCONNECT]);

/** A reason code as the spec writes it: 0x87. */
export function hexCode(code: number): string {
  return `0x${code.toString(16).padStart(2, '0')}`;
}

/** The spec's name of a reason code, or a hex label for an unknown one. */
export function reasonName(code: number): string {
  return table.get(code)?.name ?? `Unknown reason code ${hexCode(code)}`;
}

/** Whether a v5 packet of this type may carry this reason code. */
export function isValidReasonCode(packetType: number, code: number): boolean {
  const info = table.get(code);
  return info !== undefined && info.packets.includes(packetType);
}

/**
 * The 3.x CONNACK return code that stands for a v5 reason code, or undefined when 3.x has
 * none: such a refusal is a bare close for a 3.x client [MQTT-4.8.0-1].
 */
export function v3ConnackCode(code: number): number | undefined {
  return table.get(code)?.v3Connack;
}

/** All codes known to the table, for tests and docs. */
export function allReasonCodes(): number[] {
  return [...table.keys()];
}
