// SUBSCRIBE and UNSUBSCRIBE: limits, authorization, the subscription tree, SUBACK / UNSUBACK,
// and retained messages for new subscriptions.

import {
  hasWildcard, isSharedFilter, PacketType, SUBACK_FAILURE_V3, topicLimitError,
  type SubscribePacket, type Subscription, type UnsubscribePacket,
} from '../../protocol/index.js';
import { addSubscription, type Delivery, type SubscriptionOptions } from '../../session/session.js';
import type { Connection } from '../connection.js';
import type { BrokerContext } from '../context.js';
import { deliverRetained, makeDelivery } from '../delivery.js';
import { handOffShared } from '../shared-handoff.js';
import { isPromise, refusalCode, type Decision } from '../hooks.js';

export function handleSubscribe(b: BrokerContext, conn: Connection, p: SubscribePacket): void | Promise<void> {
  const o = b.options;
  const subscriptionId = p.properties?.subscriptionIdentifier;
  // First the checks that need no hook: a code per filter, or undefined to go on.
  const codes = p.subscriptions.map((s): number | undefined => {
    if (isSharedFilter(s.filter) && !o.sharedSubscriptionAvailable) return 0x9e;
    if (hasWildcard(s.filter) && !o.wildcardSubscriptionAvailable) return 0xa2;
    if (subscriptionId !== undefined && !o.subscriptionIdentifiersAvailable) return 0xa1;
    if (topicLimitError(s.filter, o.maxTopicLevels, o.maxTopicLength) !== undefined) return 0x8f;
    return undefined;
  });
  const authorize = o.hooks.authorizeSubscribe;
  if (authorize === undefined) return finish(b, conn, p, codes);
  const decisions = p.subscriptions.map((s, i) =>
    codes[i] !== undefined ? true : authorize({ client: conn, filter: s.filter, qos: s.qos }));
  const apply = (ds: Decision[]): void => {
    ds.forEach((d, i) => {
      codes[i] ??= refusalCode(d, 0x87);
    });
    finish(b, conn, p, codes);
  };
  if (decisions.some(isPromise)) return Promise.all(decisions).then(apply);
  return apply(decisions as Decision[]);
}

function finish(b: BrokerContext, conn: Connection, p: SubscribePacket, codes: (number | undefined)[]): void {
  const o = b.options;
  const session = conn.session!;
  const v5 = conn.protocolVersion === 5;
  const subscriptionId = p.properties?.subscriptionIdentifier;
  const added: { sub: Subscription; isNew: boolean }[] = [];
  const reasonCodes = p.subscriptions.map((s, i) => {
    let code = codes[i];
    if (code === undefined && !session.subscriptions.has(s.filter) && session.subscriptions.size >= o.maxSubscriptionsPerSession) {
      code = 0x97; // Quota exceeded
    }
    // 3.x SUBACK knows only 0x80 for a failure [MQTT-3.9.3-2].
    if (code !== undefined) return v5 ? code : SUBACK_FAILURE_V3;
    const qos = Math.min(s.qos, o.maximumQoS) as 0 | 1 | 2;
    const options: SubscriptionOptions = {
      qos, noLocal: s.noLocal, retainAsPublished: s.retainAsPublished, retainHandling: s.retainHandling, subscriptionId,
      shared: isSharedFilter(s.filter),
    };
    // [MQTT-3.8.4-3]: a subscription to an existing filter replaces it.
    const isNew = !session.subscriptions.has(s.filter);
    addSubscription(session, s.filter, options);
    b.tree.add(session, s.filter, options);
    b.delivery.persist?.subscribed(session, s.filter, options);
    added.push({ sub: s, isNew });
    return qos; // [MQTT-3.9.3-1]: the granted QoS
  });
  // [MQTT-3.8.4-1]: SUBACK with the same Packet Identifier, one code per filter [MQTT-3.8.4-6].
  conn.send({ type: PacketType.SUBACK, packetId: p.packetId, reasonCodes });
  for (const { sub, isNew } of added) sendRetained(b, conn, sub, isNew);
}

/**
 * Retained messages for a new subscription [MQTT-3.3.1-6] (3.1.1) with RETAIN set
 * [MQTT-3.3.1-8]; v5 Retain Handling 1 sends them only for a new subscription, 2 never
 * (3.8.3.1). Shared subscriptions get none (v5 section 4.8.2).
 */
function sendRetained(b: BrokerContext, conn: Connection, sub: Subscription, isNew: boolean): void {
  if (sub.retainHandling === 2 || (sub.retainHandling === 1 && !isNew) || isSharedFilter(sub.filter)) return;
  const session = conn.session!;
  const options = session.subscriptions.get(sub.filter)!;
  const now = Date.now();
  const ids = options.subscriptionId === undefined ? undefined : [options.subscriptionId];
  const deliveries: Delivery[] = [];
  b.retained.match(sub.filter, (_topic, message) => {
    if (message.expiresAt !== 0 && message.expiresAt <= now) return;
    deliveries.push(makeDelivery(message, Math.min(message.qos, options.qos) as 0 | 1 | 2, true, ids));
  });
  // Sent as the client's window allows, however many there are (not through the bounded queue).
  deliverRetained(b.delivery, session, deliveries);
}

export function handleUnsubscribe(b: BrokerContext, conn: Connection, p: UnsubscribePacket): void {
  const session = conn.session!;
  const reasonCodes = p.filters.map((filter) => {
    if (!session.subscriptions.delete(filter)) return 0x11; // No subscription existed
    b.tree.remove(session, filter);
    b.delivery.persist?.unsubscribed(session, filter);
    // Messages the group queued for this member and it never got go to another member.
    if (isSharedFilter(filter)) {
      handOffShared(b.delivery, b.tree, session, { filter, inflightQos1: false, inflightQos2: false, sessionContinues: true });
    }
    return 0x00;
  });
  // [MQTT-3.10.4-4] UNSUBACK even when nothing was removed; v5 with a code per filter [MQTT-3.11.3-1].
  conn.send({ type: PacketType.UNSUBACK, packetId: p.packetId, reasonCodes: conn.protocolVersion === 5 ? reasonCodes : [] });
}
