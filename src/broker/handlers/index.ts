// The one dispatch point for inbound packets. The decoder already enforces CONNECT first and
// once [MQTT-3.1.0-1] [MQTT-3.1.0-2] and refuses packets only a server sends; here, while an
// enhanced authentication is under way, only AUTH and DISCONNECT are allowed (4.12).

import { PacketType, ProtocolError, type Packet } from '../../protocol/index.js';
import type { Connection } from '../connection.js';
import type { BrokerContext } from '../context.js';
import { handlePuback, handlePubcomp, handlePubrec, handlePubrel } from './acks.js';
import { handleConnect } from './connect.js';
import { handleAuth, handleDisconnect, handlePingreq } from './control.js';
import { handlePublish } from './publish.js';
import { handleSubscribe, handleUnsubscribe } from './subscribe.js';

export function dispatch(b: BrokerContext, conn: Connection, p: Packet): void | Promise<void> {
  if (conn.state === 'authenticating' && p.type !== PacketType.AUTH && p.type !== PacketType.DISCONNECT) {
    throw new ProtocolError(0x82, 'packet before the authentication finished');
  }
  switch (p.type) {
    case PacketType.PUBLISH: return handlePublish(b, conn, p);
    case PacketType.PUBACK: return handlePuback(b, conn, p);
    case PacketType.PUBREC: return handlePubrec(b, conn, p);
    case PacketType.PUBREL: return handlePubrel(b, conn, p);
    case PacketType.PUBCOMP: return handlePubcomp(b, conn, p);
    case PacketType.PINGREQ: return handlePingreq(b, conn);
    case PacketType.SUBSCRIBE: return handleSubscribe(b, conn, p);
    case PacketType.UNSUBSCRIBE: return handleUnsubscribe(b, conn, p);
    case PacketType.DISCONNECT:
      if (conn.state !== 'connected') {
        conn.close();
        return;
      }
      return handleDisconnect(b, conn, p);
    case PacketType.AUTH: return handleAuth(b, conn, p);
    case PacketType.CONNECT: return handleConnect(b, conn, p);
    default:
      // CONNACK, SUBACK, UNSUBACK, PINGRESP: the decoder refuses them already.
      throw new ProtocolError(0x82, `unexpected packet type ${p.type}`);
  }
}
