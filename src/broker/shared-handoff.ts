// When a member leaves a shared subscription group, the messages the group gave it and it has
// not acknowledged go to another member instead of being lost (v5 4.8.2: the server SHOULD
// send them to another client of the group when the session ends, and MAY do so for QoS 1 as
// soon as the connection is lost; QoS 2 already sent stays with the member, and is never given to
// another member even when the member's session ends [MQTT-4.8.2-4] [MQTT-4.8.2-5]).

import type { SubscriptionEntry, TopicTree } from '../routing/topic-tree.js';
import { messageCost } from '../session/message.js';
import { enqueue, queueLength, type Delivery, type Session } from '../session/session.js';
import { countDrop, type DeliveryContext } from './delivery.js';
import { deliverShared, memberReady } from './fanout.js';

export interface HandOffScope {
  /** Only deliveries of this shared filter; all shared ones when undefined. */
  filter?: string;
  /** Also take back QoS 1 messages sent and not yet acknowledged. */
  inflightQos1: boolean;
  /** Also take back QoS 2 messages sent whose PUBREC has not come. */
  inflightQos2: boolean;
  /** The session goes on: what no other member can take stays with it. */
  sessionContinues: boolean;
}

export function handOffShared(ctx: DeliveryContext, tree: TopicTree<Session>, session: Session, scope: HandOffScope): number {
  // A session that goes on keeps what no other member can take where it is: a sent message
  // stays in its window, to be re-sent with its packet identifier and DUP [MQTT-4.4.0-1], and
  // the queue keeps its order (4.6), instead of both being re-queued at its end.
  const movable = (filter: string): boolean =>
    !scope.sessionContinues || tree.group(filter)?.members.some((m) => m.subscriber !== session) === true;
  const taken = takeShared(ctx, session, scope, movable);
  let moved = 0;
  for (const d of taken) {
    const group = tree.group(d.shared!);
    const member = group === undefined ? undefined : pickOther(group.members, group, session);
    if (member !== undefined) {
      deliverShared(ctx, member, d.message);
      moved++;
    } else if (!scope.sessionContinues) {
      // Its session is ending and no other member is there to take it.
      ctx.counters.dropped++;
      ctx.counters.droppedUnrouted++;
    } else if (!enqueue(session, d, ctx.limits)) {
      countDrop(ctx, session, 'queueFull');
    }
  }
  return moved;
}

/** Removes from the session's queue (and, per scope, its window) the deliveries in scope. */
function takeShared(ctx: DeliveryContext, session: Session, scope: HandOffScope, movable: (filter: string) => boolean): Delivery[] {
  const inScope = (d: Delivery | undefined): d is Delivery =>
    d !== undefined && d.shared !== undefined && (scope.filter === undefined || d.shared === scope.filter) && movable(d.shared);
  const taken: Delivery[] = [];
  if (queueLength(session) > 0) {
    const keep: Delivery[] = [];
    for (let i = session.queueHead; i < session.queue.length; i++) {
      const d = session.queue[i];
      (inScope(d) ? taken : keep).push(d);
    }
    if (taken.length > 0) {
      for (const d of taken) ctx.persist?.dequeued(session, d);
      session.queue = keep;
      session.queueHead = 0;
      session.queuedBytes = keep.reduce((sum, d) => sum + messageCost(d.message), 0);
    }
  }
  for (const [packetId, entry] of session.inflight) {
    if (!inScope(entry.delivery)) continue;
    const take = entry.awaiting === 'puback' ? scope.inflightQos1 : entry.awaiting === 'pubrec' && scope.inflightQos2;
    if (!take) continue;
    session.inflight.delete(packetId);
    ctx.persist?.completed(session, packetId, entry.delivery, entry.stored);
    taken.push(entry.delivery);
  }
  return taken;
}

/** Another member than `leaving`: a ready one from the group's cursor on, else any other. */
function pickOther(members: SubscriptionEntry<Session>[], group: { next: number }, leaving: Session): SubscriptionEntry<Session> | undefined {
  const n = members.length;
  let fallback: SubscriptionEntry<Session> | undefined;
  for (let k = 0; k < n; k++) {
    const i = (group.next + k) % n;
    const m = members[i];
    if (m.subscriber === leaving) continue;
    if (memberReady(m.subscriber)) {
      group.next = (i + 1) % n;
      return m;
    }
    fallback ??= m;
  }
  return fallback;
}
