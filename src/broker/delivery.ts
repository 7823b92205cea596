// Outbound delivery to one session: straight onto its link while its window and socket allow,
// else into its bounded queue, in order. Encoding goes through the message's variant cache, so
// subscribers that see the same bytes share one encode.

import { publishHead } from '../protocol/publish-encoder.js';
import type { QoS } from '../protocol/index.js';
import { detach, type Message } from '../session/message.js';
import {
  addInflight, allocatePacketId, enqueue, newDropCounters, peekQueue, queueLength, shiftQueue, type Delivery, type DropCounters, type Outlet, type QueueLimits, type Session,
} from '../session/session.js';
import type { Persistence } from './persistence.js';
import { encodeDelivery } from './publish-variants.js';

export interface DeliveryContext {
  readonly limits: QueueLimits;
  /** Queue QoS 0 messages for offline sessions too. */
  readonly queueQos0: boolean;
  /** Messages sent and not delivered, for `$SYS` and the metrics. */
  readonly counters: DeliveryCounters;
  /**
   * The session cannot keep up: pause whoever is publishing to it. False when nobody can be
   * paused (the broker's own messages) or the session has been slow for too long (isolated).
   */
  backpressure(session: Session): boolean;
  /** The session caught up: resume the publishers it had paused. */
  relieve(session: Session): void;
  /** The store bridge, when the broker has a store. */
  readonly persist: Persistence | undefined;
  /** Set while queued and unsent data across all clients is over the memory budget. */
  readonly memory: { over: boolean };
  /** Over the budget: stop reading the publisher of the message being delivered until back under. */
  holdPublisher(): void;
  /** The ACL's say on whether a client may receive a topic; undefined when there is no ACL. */
  readonly canReceive: ((client: Outlet, topic: string) => boolean) | undefined;
}

export type DropReason = keyof DropCounters;

export interface DeliveryCounters {
  sent: number;
  /** PUBLISH packets sent, by QoS. */
  sentByQos: [number, number, number];
  dropped: number;
  droppedBy: DropCounters;
  /** Messages no session could take (a departing shared member's, with nobody left). */
  droppedUnrouted: number;
}

export function newDeliveryCounters(): DeliveryCounters {
  return {
    sent: 0, sentByQos: [0, 0, 0], dropped: 0, droppedUnrouted: 0, droppedBy: newDropCounters(),
  };
}

/** Counts a message a session does not get, for the session and the broker. */
export function countDrop(ctx: DeliveryContext, session: Session, reason: DropReason): void {
  session.dropped[reason]++;
  ctx.counters.dropped++;
  ctx.counters.droppedBy[reason]++;
}

/** Hands one message to one session at the QoS and RETAIN flag it gets. */
export function deliver(ctx: DeliveryContext, session: Session, delivery: Delivery): void {
  const outlet = session.outlet;
  // The ACL is asked at every delivery, not only at SUBSCRIBE: `a/#` may be allowed while a
  // `deny a/secret` rule still holds, and a reloaded ACL applies at once.
  if (outlet !== undefined && ctx.canReceive !== undefined && !mayReceive(ctx, session, outlet, delivery)) return;
  if (delivery.qos === 0) {
    // Over the memory budget, QoS 0 goes first: it was never promised to anyone.
    if (ctx.memory.over) {
      countDrop(ctx, session, 'memoryBudget');
      return;
    }
    if (outlet !== undefined) {
      // A congested subscriber slows its publishers first; QoS 0 is dropped only when that
      // cannot be done or has gone on too long (slow-consumer isolation).
      if (outlet.congested() && !ctx.backpressure(session)) {
        countDrop(ctx, session, 'slowConsumer');
        return;
      }
      send(ctx, session, outlet, delivery, 0, false);
    } else if (ctx.queueQos0 && session.expiryInterval > 0) {
      queue(ctx, session, delivery);
    }
    return;
  }
  // QoS 1/2 go out directly only when nothing queued is ahead of them, to keep their order.
  if (outlet !== undefined && session.queueHead === session.queue.length && canSend(session, outlet)) {
    sendNew(ctx, session, outlet, delivery);
    return;
  }
  queue(ctx, session, delivery);
  // A queue past half its bound, or a congested link, slows the publishers feeding it.
  if (outlet !== undefined && (queueLength(session) * 2 > ctx.limits.maxMessages || outlet.congested())) {
    ctx.backpressure(session);
  }
}

function mayReceive(ctx: DeliveryContext, session: Session, outlet: Outlet, d: Delivery): boolean {
  if (ctx.canReceive!(outlet, d.message.topic)) return true;
  countDrop(ctx, session, 'notAuthorized');
  return false;
}

function canSend(session: Session, outlet: Outlet): boolean {
  return session.inflight.size < outlet.sendQuota && !outlet.congested();
}

function queue(ctx: DeliveryContext, session: Session, delivery: Delivery): void {
  if (!enqueue(session, delivery, ctx.limits)) {
    countDrop(ctx, session, 'queueFull');
    return;
  }
  // Copied out of the socket chunk only once it is kept (a refused one costs no copy).
  detach(delivery.message);
  ctx.persist?.queued(session, delivery);
  // Over the memory budget, whoever adds to the queues waits; others (not queueing) go on.
  if (ctx.memory.over) ctx.holdPublisher();
}

/**
 * Gives a QoS 1/2 delivery a packet id and sends it. In a session the store keeps, a QoS 2
 * PUBLISH goes out only once the store holds its packet id: were the broker to crash before,
 * the client would otherwise get the message again under another id (exactly once).
 */
function sendNew(ctx: DeliveryContext, session: Session, outlet: Outlet, d: Delivery): void {
  const packetId = allocatePacketId(session)!;
  const stored = ctx.persist?.sent(session, packetId, d) ?? false;
  addInflight(session, { packetId, delivery: d, awaiting: d.qos === 1 ? 'puback' : 'pubrec', stored });
  if (stored && d.qos === 2 && ctx.persist!.waitForCommit) {
    ctx.persist!.commit().then(() => {
      if (session.outlet === outlet && session.inflight.get(packetId)?.delivery === d) send(ctx, session, outlet, d, packetId, false);
    }, () => undefined); // not sent: it goes out again when the client reconnects
    return;
  }
  send(ctx, session, outlet, d, packetId, false);
}

/**
 * Moves queued messages onto the link while the window and socket allow. Called when a
 * client connects, acknowledges a message, or its socket drains.
 */
export function pump(ctx: DeliveryContext, session: Session): void {
  const outlet = session.outlet;
  if (outlet === undefined) return;
  const now = Date.now();
  for (let d = peekQueue(session); d !== undefined; d = peekQueue(session)) {
    if (d.message.expiresAt !== 0 && d.message.expiresAt <= now) {
      // v5 3.3.2.3.3: an expired message is not delivered.
      shiftQueue(session);
      ctx.persist?.dequeued(session, d);
      countDrop(ctx, session, 'expired');
      continue;
    }
    if (d.qos === 0 ? outlet.congested() : !canSend(session, outlet)) break;
    shiftQueue(session);
    ctx.persist?.dequeued(session, d);
    // Queued while the client was away: the ACL of now decides.
    if (ctx.canReceive !== undefined && !mayReceive(ctx, session, outlet, d)) continue;
    if (d.qos === 0) send(ctx, session, outlet, d, 0, false);
    else sendNew(ctx, session, outlet, d);
  }
  if (session.retainedBacklog !== undefined && session.queueHead === session.queue.length) sendRetainedBacklog(ctx, session, outlet, now);
  if (session.congestedSince !== 0 && outlet.relaxed() && queueLength(session) * 4 <= ctx.limits.maxMessages) {
    ctx.relieve(session);
  }
}

/** Retained messages for new subscriptions join the backlog, which drains after the queue. */
export function deliverRetained(ctx: DeliveryContext, session: Session, deliveries: Delivery[]): void {
  if (deliveries.length === 0) return;
  const backlog = session.retainedBacklog;
  if (backlog === undefined) {
    session.retainedBacklog = deliveries;
    session.retainedNext = 0;
  } else {
    for (const d of deliveries) backlog.push(d);
  }
  pump(ctx, session);
}

function sendRetainedBacklog(ctx: DeliveryContext, session: Session, outlet: Outlet, now: number): void {
  const backlog = session.retainedBacklog!;
  while (session.retainedNext < backlog.length) {
    const d = backlog[session.retainedNext];
    if ((d.message.expiresAt === 0 || d.message.expiresAt > now) && (ctx.canReceive === undefined || mayReceive(ctx, session, outlet, d))) {
      if (d.qos === 0 ? outlet.congested() : !canSend(session, outlet)) return;
      if (d.qos === 0) send(ctx, session, outlet, d, 0, false);
      else sendNew(ctx, session, outlet, d);
    }
    backlog[session.retainedNext++] = undefined as unknown as Delivery;
  }
  session.retainedBacklog = undefined;
  session.retainedNext = 0;
}

/**
 * On a resumed session, re-sends what was unacknowledged, in the original order: PUBLISH with
 * DUP set, or PUBREL where PUBREC had arrived [MQTT-4.4.0-1] [MQTT-4.4.0-2]; then the queue.
 */
export function resume(ctx: DeliveryContext, session: Session): void {
  const outlet = session.outlet;
  if (outlet === undefined) return;
  for (const entry of session.inflight.values()) {
    if (entry.awaiting === 'pubcomp' || entry.delivery === undefined) {
      outlet.write(pubrel(entry.packetId));
    } else {
      send(ctx, session, outlet, entry.delivery, entry.packetId, true);
    }
  }
  pump(ctx, session);
}

const PUBREL_TEMPLATE = Buffer.from([0x62, 0x02, 0, 0]);
export function pubrel(packetId: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  PUBREL_TEMPLATE.copy(b);
  b[2] = packetId >>> 8;
  b[3] = packetId & 0xff;
  return b;
}

function send(ctx: DeliveryContext, session: Session, outlet: Outlet, d: Delivery, packetId: number, dup: boolean): void {
  const prepared = encodeDelivery(d, outlet);
  if (prepared === undefined) {
    // [MQTT-3.1.2-25] Never send a packet larger than the client's Maximum Packet Size: the
    // message is dropped for this client as if it had been delivered.
    countDrop(ctx, session, 'tooLarge');
    if (packetId !== 0) {
      const entry = session.inflight.get(packetId);
      session.inflight.delete(packetId);
      ctx.persist?.completed(session, packetId, d, entry?.stored ?? false);
    }
    return;
  }
  outlet.write(publishHead(prepared, packetId, dup), prepared.tail);
  ctx.counters.sent++;
  ctx.counters.sentByQos[d.qos]++;
}

/** Builds the delivery a subscriber gets of a message; `shared`: the shared subscription it came through. */
export function makeDelivery(message: Message, qos: QoS, retain: boolean, subscriptionIds: number[] | undefined, shared?: string): Delivery {
  return { message, qos, retain, subscriptionIds, shared, seq: 0 };
}
