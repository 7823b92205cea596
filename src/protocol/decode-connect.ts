// CONNECT and CONNACK bodies (sections 3.1 and 3.2).

import { PacketType, PROTOCOL_NAME, PROTOCOL_NAME_V31, type ProtocolVersion, type QoS } from './constants.js';
import { malformed, ProtocolError, protocolError } from './errors.js';
import type { ConnackPacket, ConnectPacket, Will } from './packets.js';
import { readProperties, WILL } from './properties.js';
import type { Reader } from './reader.js';
import { isValidReasonCode } from './reason-codes.js';
import { topicNameError } from './topic.js';

/** What the CONNECT decoder learns about the connection before it may fail. */
export interface ConnectState {
  /** The version to answer in: set as soon as the protocol level is read. */
  protocolVersion: ProtocolVersion | undefined;
}

export function decodeConnect(r: Reader, state: ConnectState): ConnectPacket {
  const name = r.utf8('protocol name');
  const level = r.u8('protocol level');
  const supported = (name === PROTOCOL_NAME && (level === 4 || level === 5)) ||
    (name === PROTOCOL_NAME_V31 && level === 3);
  if (!supported) {
    // Answer a client from the future in the v5 format, anything older in the 3.x format.
    state.protocolVersion = level > 5 ? 5 : 4;
    // [MQTT-3.1.2-1] unknown protocol name; [MQTT-3.1.2-2] unsupported level: CONNACK 0x84 (v5) / 0x01 (3.x), then close.
    throw new ProtocolError(0x84, `protocol ${JSON.stringify(name)} level ${level} is not supported`);
  }
  const version = level as ProtocolVersion;
  state.protocolVersion = version;

  const flags = r.u8('connect flags');
  // [MQTT-3.1.2-3] The reserved flag must be 0.
  if ((flags & 0x01) !== 0) throw malformed('reserved connect flag is set');
  const clean = (flags & 0x02) !== 0;
  const hasWill = (flags & 0x04) !== 0;
  const willQos = (flags >> 3) & 0x03;
  const willRetain = (flags & 0x20) !== 0;
  const hasPassword = (flags & 0x40) !== 0;
  const hasUsername = (flags & 0x80) !== 0;
  // [MQTT-3.1.2-12] (v5) / [MQTT-3.1.2-14] (3.1.1): Will QoS 3 is malformed.
  if (willQos === 3) throw malformed('will QoS is 3');
  if (!hasWill) {
    // [MQTT-3.1.2-11] / [MQTT-3.1.2-13] (v5); [MQTT-3.1.2-13] / [MQTT-3.1.2-15] (3.1.1).
    if (willQos !== 0) throw malformed('will QoS is set without a will');
    if (willRetain) throw malformed('will retain is set without a will');
  }
  // [MQTT-3.1.2-22] (3.1.1, and 3.1): a password needs a user name. v5 allows it alone.
  if (version < 5 && hasPassword && !hasUsername) throw malformed('password flag without user name flag');

  const keepAlive = r.u16('keep alive');
  const packet: ConnectPacket = {
    type: PacketType.CONNECT,
    protocolVersion: version,
    clean,
    keepAlive,
    clientId: '',
  };
  if (version === 5) {
    const props = readProperties(r, PacketType.CONNECT);
    if (props !== undefined) {
      // 3.1.2.11.10: Authentication Data without Authentication Method is a Protocol Error.
      if (props.authenticationData !== undefined && props.authenticationMethod === undefined) {
        throw protocolError('authentication data without authentication method');
      }
      packet.properties = props;
    }
  }
  // [MQTT-3.1.3-4] The Client Identifier is a UTF-8 Encoded String.
  packet.clientId = r.utf8('client identifier');
  if (hasWill) packet.will = readWill(r, version, willQos as QoS, willRetain);
  // [MQTT-3.1.3-11] (v5) / [MQTT-3.1.3-11] (3.1.1): the User Name is a UTF-8 Encoded String.
  if (hasUsername) packet.username = r.utf8('user name');
  if (hasPassword) packet.password = r.binary('password');
  r.expectEnd('CONNECT payload');
  return packet;
}

function readWill(r: Reader, version: ProtocolVersion, qos: QoS, retain: boolean): Will {
  const properties = version === 5 ? readProperties(r, WILL) : undefined;
  if (properties?.responseTopic !== undefined) checkResponseTopic(properties.responseTopic);
  const topic = r.utf8('will topic');
  const why = topicNameError(topic);
  // [MQTT-3.1.3-11] (v5) The Will Topic is a Topic Name: no wildcards, not empty [MQTT-4.7.3-1].
  if (why !== undefined) throw new ProtocolError(0x90, `will ${why}`);
  const payload = r.binary('will payload');
  const will: Will = { topic, payload, qos, retain };
  if (properties !== undefined) will.properties = properties;
  return will;
}

/** [MQTT-3.3.2-14] The Response Topic is a Topic Name: no wildcards (and not empty). */
export function checkResponseTopic(topic: string): void {
  const why = topicNameError(topic);
  if (why !== undefined) throw protocolError(`response ${why}`);
}

export function decodeConnack(r: Reader, version: ProtocolVersion): ConnackPacket {
  const flags = r.u8('connack flags');
  // [MQTT-3.2.2-1] (v5) Bits 7-1 of the Connect Acknowledge Flags are reserved and set to 0.
  if ((flags & 0xfe) !== 0) throw malformed('reserved connack flags are set');
  const sessionPresent = (flags & 0x01) === 1;
  const reasonCode = r.u8('connack reason code');
  if (version === 5 ? !isValidReasonCode(PacketType.CONNACK, reasonCode) : reasonCode > 5) {
    throw protocolError(`0x${reasonCode.toString(16)} is not a CONNACK reason code`);
  }
  // [MQTT-3.2.2-6] (v5) / [MQTT-3.2.2-4] (3.1.1): a refusal has Session Present 0.
  if (reasonCode !== 0 && sessionPresent) throw protocolError('session present on a refused connection');
  const packet: ConnackPacket = { type: PacketType.CONNACK, sessionPresent, reasonCode };
  if (version === 5) {
    const props = readProperties(r, PacketType.CONNACK);
    if (props !== undefined) {
      if (props.authenticationData !== undefined && props.authenticationMethod === undefined) {
        throw protocolError('authentication data without authentication method');
      }
      packet.properties = props;
    }
  }
  r.expectEnd('CONNACK');
  return packet;
}
