// PINGREQ, PINGRESP, DISCONNECT and AUTH bodies (sections 3.12 to 3.15).

import { PacketType, type ProtocolVersion } from './constants.js';
import { malformed, protocolError } from './errors.js';
import type { AuthPacket, DisconnectPacket } from './packets.js';
import { readProperties } from './properties.js';
import type { Reader } from './reader.js';
import { isValidReasonCode } from './reason-codes.js';

export function decodeDisconnect(r: Reader, version: ProtocolVersion): DisconnectPacket {
  const packet: DisconnectPacket = { type: PacketType.DISCONNECT, reasonCode: 0 };
  // 3.14.2.1: with Remaining Length 0 the reason is 0x00; 3.x DISCONNECT has no body (3.14.1).
  if (version === 5 && !r.atEnd()) {
    const code = r.u8('disconnect reason code');
    if (!isValidReasonCode(PacketType.DISCONNECT, code)) {
      throw protocolError(`0x${code.toString(16)} is not a DISCONNECT reason code`);
    }
    packet.reasonCode = code;
    if (!r.atEnd()) {
      const props = readProperties(r, PacketType.DISCONNECT);
      if (props !== undefined) packet.properties = props;
    }
  }
  r.expectEnd('DISCONNECT');
  return packet;
}

export function decodeAuth(r: Reader): AuthPacket {
  const packet: AuthPacket = { type: PacketType.AUTH, reasonCode: 0 };
  // 3.15.2.1: Remaining Length 0 means Success with no properties.
  if (!r.atEnd()) {
    const code = r.u8('auth reason code');
    if (!isValidReasonCode(PacketType.AUTH, code)) throw protocolError(`0x${code.toString(16)} is not an AUTH reason code`);
    packet.reasonCode = code;
    if (!r.atEnd()) {
      const props = readProperties(r, PacketType.AUTH);
      if (props !== undefined) packet.properties = props;
    }
    // 3.15.2.2.2: it is a Protocol Error to omit the Authentication Method.
    if (packet.properties?.authenticationMethod === undefined) throw protocolError('AUTH without authentication method');
  }
  r.expectEnd('AUTH');
  return packet;
}

/** PINGREQ and PINGRESP have no body (3.12, 3.13). */
export function expectEmpty(r: Reader, name: string): void {
  if (!r.atEnd()) throw malformed(`${name} has a body`);
}

