// PUBLISH from a client: topic alias, limits, QoS 2 duplicate detection, authorization, then
// the message is stored if retained, delivered, and acknowledged. With no authorization hook
// (or one that answers synchronously) nothing here waits.

import { PacketType, ProtocolError, topicLimitError, type PublishPacket } from '../../protocol/index.js';
import { createMessage } from '../../session/message.js';
import { addAwaitingRelease } from '../../session/session.js';
import type { Connection } from '../connection.js';
import type { BrokerContext } from '../context.js';
import { isPromise, refusalCode, type Decision } from '../hooks.js';

export function handlePublish(b: BrokerContext, conn: Connection, p: PublishPacket): void | Promise<void> {
  const o = b.options;
  const session = conn.session!;
  b.stats.messagesReceived++;
  b.stats.receivedByQos[p.qos]++;

  const topic = resolveTopic(b, conn, p);
  // [MQTT-3.2.2-11] (v5): a PUBLISH above the Maximum QoS the server advertised.
  if (p.qos > o.maximumQoS) throw new ProtocolError(0x9b, 'QoS not supported');
  // [MQTT-3.2.2-14] (v5): a retained PUBLISH when Retain Available is 0.
  if (p.retain && !o.retainAvailable) throw new ProtocolError(0x9a, 'retain not supported');
  const overLimit = topicLimitError(topic, o.maxTopicLevels, o.maxTopicLength);
  if (overLimit !== undefined) throw new ProtocolError(0x90, `topic ${overLimit}`);
  // Over its rate: this one is served, the next ones wait (the socket is not read meanwhile, so
  // TCP slows the client down; nothing is dropped).
  if (conn.publishRate !== undefined || conn.publishBytesRate !== undefined) {
    const wait = Math.max(conn.publishRate?.take(1) ?? 0, conn.publishBytesRate?.take(p.payload.length + topic.length) ?? 0);
    if (wait > 0) {
      b.limitHit('maxPublishRate');
      conn.pauseFor(wait);
    }
  }
  if (o.memoryBudget > 0) b.noteIncoming(p.payload.length + topic.length);

  if (p.qos > 0) {
    const resend = p.qos === 2 && session.awaitingRelease.has(p.packetId);
    if (!resend) {
      if (conn.protocolVersion === 5) {
        // [MQTT-3.3.4-7]: more unacknowledged QoS 1/2 PUBLISH than our Receive Maximum is 0x93
        // (a QoS 2 one counts until PUBCOMP, a QoS 1 one until its PUBACK is sent).
        if (session.awaitingRelease.size + conn.pendingQos1 >= o.receiveMaximum) {
          throw new ProtocolError(0x93, 'receive maximum exceeded');
        }
      } else if (session.awaitingRelease.size >= o.maxAwaitingRelease) {
        // 3.x has no Receive Maximum; the QoS 2 ids a client makes us hold are bounded all the same.
        throw new ProtocolError(0x93, 'too many QoS 2 messages awaiting PUBREL');
      }
    }
    if (resend) {
      // [MQTT-4.3.3-10] (v5) / [MQTT-4.3.3-2] (3.1.1): a re-sent QoS 2 PUBLISH is acknowledged, not delivered again.
      conn.write(ack(0x50, p.packetId));
      return;
    }
  }

  // Topics starting with '$' are the server's (4.7.2): clients may not publish to them.
  if (topic.charCodeAt(0) === 0x24) return route(b, conn, p, topic, 0x87);
  const authorize = o.hooks.authorizePublish;
  if (authorize === undefined) return route(b, conn, p, topic, undefined);
  const decision = authorize({ client: conn, topic, payload: p.payload, qos: p.qos, retain: p.retain, properties: p.properties });
  if (!isPromise(decision)) return route(b, conn, p, topic, refusalCode(decision, 0x87));
  if (p.qos === 1) conn.pendingQos1++;
  return decision.then((d: Decision) => {
    if (p.qos === 1) conn.pendingQos1--;
    route(b, conn, p, topic, refusalCode(d, 0x87));
  });
}

function route(b: BrokerContext, conn: Connection, p: PublishPacket, topic: string, refused: number | undefined): void {
  const session = conn.session!;
  const persist = b.delivery.persist;
  const writesBefore = persist?.writes ?? 0;
  let reasonCode = 0;
  if (refused !== undefined) {
    // v5: the refusal goes back in PUBACK / PUBREC. 3.x has no way to say it: the message is
    // acknowledged and dropped (3.1.1 section 3.3.5).
    reasonCode = refused;
  } else {
    const message = createMessage({
      topic, payload: p.payload, qos: p.qos, retain: p.retain, properties: p.properties, origin: conn.clientId,
    }, Date.now());
    const matched = b.publishMessage(message, conn);
    // v5: 0x10 tells the publisher nobody was subscribed (3.4.2.1).
    if (matched === 0 && !p.retain) reasonCode = 0x10;
  }
  if (p.qos === 0) return;
  if (p.qos === 2 && reasonCode < 0x80) {
    addAwaitingRelease(session, p.packetId);
    // Stored in the same commit as the message, so a re-send after a crash is known as one.
    persist?.awaitingRelease(session, p.packetId);
  }
  // Acknowledged only once the store holds the message for every session that keeps it;
  // later acknowledgements wait behind earlier ones, as PUBACKs go in order [MQTT-4.6.0-2].
  if (persist !== undefined && persist.waitForCommit && (persist.writes !== writesBefore || conn.pendingAcks > 0)) {
    waitingAck(conn, p.qos, +1, b.options.receiveMaximum);
    persist.commit().then(() => {
      waitingAck(conn, p.qos, -1, b.options.receiveMaximum);
      acknowledge(conn, p, reasonCode);
    }, (err: unknown) => {
      waitingAck(conn, p.qos, -1, b.options.receiveMaximum);
      storeFailed(conn, p, err);
    });
    return;
  }
  acknowledge(conn, p, reasonCode);
}

/**
 * Counts acknowledgements waiting for a commit. A 3.x client does not know our Receive Maximum,
 * so instead of refusing it, reading from it pauses while that many wait, until commits catch up.
 */
function waitingAck(conn: Connection, qos: number, delta: 1 | -1, receiveMaximum: number): void {
  conn.pendingAcks += delta;
  if (qos === 1) conn.pendingQos1 += delta;
  if (conn.protocolVersion === 5) return;
  if (delta === 1 && conn.pendingAcks === receiveMaximum) conn.pauseReading();
  else if (delta === -1 && conn.pendingAcks === receiveMaximum - 1) conn.resumeReading();
}

function acknowledge(conn: Connection, p: PublishPacket, reasonCode: number): void {
  if (conn.protocolVersion !== 5 || reasonCode === 0) conn.write(ack(p.qos === 1 ? 0x40 : 0x50, p.packetId));
  else conn.send({ type: p.qos === 1 ? PacketType.PUBACK : PacketType.PUBREC, packetId: p.packetId, reasonCode });
}

/**
 * The store could not commit the message: it is not acknowledged as received. v5 is told why
 * (0x97 when the disk or the map is full, else 0x80); 3.x has no way to say it, so the
 * connection closes and the client sends the message again when it reconnects.
 */
function storeFailed(conn: Connection, p: PublishPacket, err: unknown): void {
  conn.session?.awaitingRelease.delete(p.packetId);
  if (conn.protocolVersion !== 5) {
    conn.close();
    return;
  }
  const full = /store full|MDB_MAP_FULL|ENOSPC|No space/i.test(String(err));
  acknowledge(conn, p, full ? 0x97 : 0x80);
}

/**
 * The topic a PUBLISH is for, applying v5 Topic Aliases (3.3.2.3.4): an alias above our
 * Topic Alias Maximum is 0x94 [MQTT-3.2.2-17]; an empty topic with an unknown alias is a
 * Protocol Error.
 */
function resolveTopic(b: BrokerContext, conn: Connection, p: PublishPacket): string {
  const alias = p.properties?.topicAlias;
  if (alias === undefined) return p.topic;
  if (alias > b.options.topicAliasMaximum) throw new ProtocolError(0x94, `topic alias ${alias} above the maximum`);
  const aliases = (conn.inboundAliases ??= new Map());
  if (p.topic.length > 0) {
    aliases.set(alias, p.topic);
    return p.topic;
  }
  const topic = aliases.get(alias);
  if (topic === undefined) throw new ProtocolError(0x82, `unknown topic alias ${alias}`);
  return topic;
}

/** A PUBACK / PUBREC / PUBCOMP with reason 0: the short form both 3.x and v5 accept. */
export function ack(firstByte: number, packetId: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b[0] = firstByte;
  b[1] = 2;
  b[2] = packetId >>> 8;
  b[3] = packetId & 0xff;
  return b;
}
