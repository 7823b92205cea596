// PUBACK, PUBREC and PUBCOMP from a client (it acknowledges what we sent), and PUBREL (it
// releases a QoS 2 message it sent us). Unknown packet ids are answered per spec, never fatal.

import { PacketType, type AckPacket } from '../../protocol/index.js';
import type { Connection } from '../connection.js';
import type { BrokerContext } from '../context.js';
import type { Persistence } from '../persistence.js';
import { pubrel, pump } from '../delivery.js';
import { ack } from './publish.js';

export function handlePuback(b: BrokerContext, conn: Connection, p: AckPacket<4>): void {
  const session = conn.session!;
  const entry = session.inflight.get(p.packetId);
  // An unknown or mismatched id is ignored: the message it would acknowledge is not ours to drop.
  if (entry === undefined || entry.awaiting !== 'puback') return;
  session.inflight.delete(p.packetId);
  b.delivery.persist?.completed(session, p.packetId, entry.delivery, entry.stored);
  pump(b.delivery, session);
}

export function handlePubrec(b: BrokerContext, conn: Connection, p: AckPacket<5>): void {
  const session = conn.session!;
  const entry = session.inflight.get(p.packetId);
  if (entry === undefined || entry.awaiting === 'puback') {
    // v5: PUBREL 0x92 Packet Identifier not found, so the client can finish its side (3.6.2.1).
    if (conn.protocolVersion === 5) conn.send({ type: PacketType.PUBREL, packetId: p.packetId, reasonCode: 0x92 });
    else conn.write(pubrel(p.packetId));
    return;
  }
  if (p.reasonCode >= 0x80) {
    // [MQTT-4.3.3-4] (v5): a PUBREC with an error ends the exchange; the window slot is free.
    session.inflight.delete(p.packetId);
    b.delivery.persist?.completed(session, p.packetId, entry.delivery, entry.stored);
    pump(b.delivery, session);
    return;
  }
  // [MQTT-4.3.3-4]: answer PUBREC with PUBREL; from now on only the id is kept [MQTT-4.3.3-6].
  const persist = b.delivery.persist;
  persist?.released(session, p.packetId, entry.delivery, entry.stored);
  entry.awaiting = 'pubcomp';
  entry.delivery = undefined;
  // In a stored session, PUBREL goes out once the store knows PUBREC came: were the broker to
  // crash before, it would re-send the PUBLISH, which the client (having finished) would take as new.
  afterCommit(persist, entry.stored, conn, pubrel(p.packetId));
}

export function handlePubcomp(b: BrokerContext, conn: Connection, p: AckPacket<7>): void {
  const session = conn.session!;
  const entry = session.inflight.get(p.packetId);
  if (entry === undefined || entry.awaiting !== 'pubcomp') return;
  session.inflight.delete(p.packetId);
  b.delivery.persist?.completed(session, p.packetId, undefined, false);
  pump(b.delivery, session);
}

export function handlePubrel(b: BrokerContext, conn: Connection, p: AckPacket<6>): void {
  const session = conn.session!;
  // [MQTT-4.3.3-11] (v5) / [MQTT-4.3.3-2] (3.1.1): PUBREL is answered with PUBCOMP, and the id may be reused.
  const known = session.awaitingRelease.delete(p.packetId);
  const persist = b.delivery.persist;
  if (known) persist?.releasedInbound(session, p.packetId);
  // PUBCOMP goes out once the store has forgotten the id: were the broker to crash before, a new
  // message the client sends under the same id would be taken for a re-send and lost.
  if (known || conn.protocolVersion !== 5) afterCommit(persist, known && persist?.durable(session) === true, conn, ack(0x70, p.packetId));
  else conn.send({ type: PacketType.PUBCOMP, packetId: p.packetId, reasonCode: 0x92 });
}

/** Writes `bytes` now, or once the store's pending writes are durable when `stored` says it matters. */
function afterCommit(persist: Persistence | undefined, stored: boolean, conn: Connection, bytes: Buffer): void {
  if (persist === undefined || !persist.waitForCommit || !stored) {
    conn.write(bytes);
    return;
  }
  persist.commit().then(() => conn.write(bytes), () => conn.close());
}
