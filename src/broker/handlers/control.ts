// PINGREQ, DISCONNECT and AUTH from a client.

import { ProtocolError, type AuthPacket, type DisconnectPacket } from '../../protocol/index.js';
import type { Connection } from '../connection.js';
import type { BrokerContext } from '../context.js';
import { runAuthStep } from './connect.js';

const PINGRESP = Buffer.from([0xd0, 0]);

export function handlePingreq(_b: BrokerContext, conn: Connection): void {
  // [MQTT-3.12.4-1] The server answers PINGREQ with PINGRESP.
  conn.write(PINGRESP);
}

export function handleDisconnect(b: BrokerContext, conn: Connection, p: DisconnectPacket): void {
  const session = conn.session!;
  const expiry = p.properties?.sessionExpiryInterval;
  if (expiry !== undefined) {
    // 3.14.2.2.2: a non-zero expiry at DISCONNECT after a zero one in the CONNECT is a Protocol Error.
    if (conn.requestedExpiry === 0 && expiry !== 0) {
      throw new ProtocolError(0x82, 'session expiry set at DISCONNECT after 0 at CONNECT');
    }
    session.expiryInterval = Math.min(expiry, b.options.maxSessionExpiryInterval);
  }
  // [MQTT-3.14.4-3] A normal DISCONNECT discards the will; v5 0x04 asks for it to be sent.
  if (p.reasonCode !== 0x04) conn.will = undefined;
  // [MQTT-3.14.4-1] [MQTT-3.14.4-2]: the server closes the connection, sending nothing more.
  conn.closeReason = { by: 'client', code: p.reasonCode };
  conn.close();
}

export function handleAuth(b: BrokerContext, conn: Connection, p: AuthPacket): void | Promise<void> {
  const method = p.properties?.authenticationMethod;
  if (conn.state === 'authenticating') {
    // 4.12: during CONNECT the client continues with 0x18 and the same method [MQTT-4.12.0-5].
    if (conn.completeConnect === undefined || p.reasonCode !== 0x18 || method !== conn.authMethod) {
      throw new ProtocolError(0x82, 'unexpected AUTH during authentication');
    }
    return runAuthStep(b, conn, p.properties?.authenticationData, false);
  }
  // 4.12.1: re-authentication uses the method of the CONNECT [MQTT-4.12.1-1], starting with 0x19.
  if (conn.authMethod === undefined || method !== conn.authMethod) {
    throw new ProtocolError(0x82, 'AUTH without the authentication method of the CONNECT');
  }
  if (p.reasonCode === 0x19) {
    conn.authStep = 0;
    conn.authState = {};
  } else if (p.reasonCode !== 0x18) {
    throw new ProtocolError(0x82, `AUTH with reason 0x${p.reasonCode.toString(16)} from a client`);
  }
  return runAuthStep(b, conn, p.properties?.authenticationData, true);
}
