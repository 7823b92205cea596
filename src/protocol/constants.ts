// Numeric constants of the wire protocol: packet types, protocol levels, fixed limits.

/** Control packet types, the high nibble of the first byte. */
export const PacketType = {
  CONNECT: 1,
  CONNACK: 2,
  PUBLISH: 3,
  PUBACK: 4,
  PUBREC: 5,
  PUBREL: 6,
  PUBCOMP: 7,
  SUBSCRIBE: 8,
  SUBACK: 9,
  UNSUBSCRIBE: 10,
  UNSUBACK: 11,
  PINGREQ: 12,
  PINGRESP: 13,
  DISCONNECT: 14,
  AUTH: 15,
} as const;
export type PacketTypeValue = (typeof PacketType)[keyof typeof PacketType];

/** Names by type number, for messages and logs. */
export const PACKET_NAMES: readonly string[] = [
  'RESERVED', 'CONNECT', 'CONNACK', 'PUBLISH', 'PUBACK', 'PUBREC', 'PUBREL', 'PUBCOMP',
  'SUBSCRIBE', 'SUBACK', 'UNSUBSCRIBE', 'UNSUBACK', 'PINGREQ', 'PINGRESP', 'DISCONNECT', 'AUTH',
];

/** Protocol levels: 3 is MQTT 3.1 ("MQIsdp"), 4 is 3.1.1, 5 is 5.0. */
export type ProtocolVersion = 3 | 4 | 5;

export const PROTOCOL_NAME_V31 = 'MQIsdp';
export const PROTOCOL_NAME = 'MQTT';

/** Largest value a Variable Byte Integer can hold (4 bytes) [MQTT-1.5.5-1]. */
export const MAX_VARIABLE_BYTE_INTEGER = 268_435_455;
/** Largest packet the protocol can express: 1 + 4 header bytes + the largest Remaining Length. */
export const MAX_PACKET_SIZE = 1 + 4 + MAX_VARIABLE_BYTE_INTEGER;
export const MAX_PACKET_ID = 65_535;
export const MAX_STRING_BYTES = 65_535;

export type QoS = 0 | 1 | 2;
