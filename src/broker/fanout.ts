// Fan-out of one message: match its topic in the subscription tree, merge each session's
// overlapping plain subscriptions into one delivery, and hand it over. A stamp on the session
// marks "already matched by this message", so merging needs no map per message. A shared
// subscription is its own delivery (v5 4.8.2), to the member its group's strategy picks.

import type { QoS } from '../protocol/index.js';
import { pickerFor, type MemberPicker, type SharedStrategy } from '../routing/shared-strategies.js';
import type { SharedGroup, SubscriptionEntry, TopicTree } from '../routing/topic-tree.js';
import type { Message } from '../session/message.js';
import type { Session, SubscriptionOptions } from '../session/session.js';
import { deliver, makeDelivery, type DeliveryContext } from './delivery.js';

/** A member can take a message now: connected and not congested. */
export function memberReady(session: Session): boolean {
  return session.outlet !== undefined && !session.outlet.congested();
}

export class Fanout {
  private stamp = 0;
  private message: Message | undefined;
  private readonly targets: Session[] = [];
  private readonly sharedTargets: SubscriptionEntry<Session>[] = [];
  private readonly visit = (entry: SubscriptionEntry<Session>): void => this.collect(entry);
  private readonly pickMember: MemberPicker<Session>;
  private readonly pick: (group: SharedGroup<Session>, topic: string) => SubscriptionEntry<Session> | undefined;

  constructor(private readonly tree: TopicTree<Session>, private readonly ctx: DeliveryContext, strategy: SharedStrategy) {
    this.pickMember = pickerFor(strategy);
    // Sticky spreads by publisher, the rest by topic (round robin and random ignore the key).
    const byPublisher = strategy === 'sticky';
    this.pick = (group, topic) => this.pickMember(group, byPublisher ? this.message?.origin ?? topic : topic, memberReady);
  }

  /** Delivers a message to every matching session; returns how many deliveries were made. */
  publish(message: Message): number {
    const stamp = ++this.stamp;
    this.message = message;
    const targets = this.targets;
    const shared = this.sharedTargets;
    this.tree.match(message.topic, this.visit, this.pick);
    this.message = undefined;
    const n = targets.length;
    for (let i = 0; i < n; i++) {
      const session = targets[i];
      targets[i] = undefined as unknown as Session;
      if (session.fanoutStamp !== stamp) continue;
      const qos = (message.qos < session.fanoutQos ? message.qos : session.fanoutQos) as QoS;
      // [MQTT-3.3.1-9] (3.1.1): RETAIN is 0 on a normal delivery; v5 keeps it with Retain As Published (3.8.3.1).
      const retain = session.fanoutRetainAsPublished && message.retain;
      deliver(this.ctx, session, makeDelivery(message, qos, retain, session.fanoutSubscriptionIds));
    }
    targets.length = 0;
    const m = shared.length;
    for (let i = 0; i < m; i++) {
      deliverShared(this.ctx, shared[i], message);
      shared[i] = undefined as unknown as SubscriptionEntry<Session>;
    }
    shared.length = 0;
    return n + m;
  }

  private collect(entry: SubscriptionEntry<Session>): void {
    const session = entry.subscriber;
    const options = entry.options as SubscriptionOptions;
    const message = this.message!;
    if (options.shared) {
      this.sharedTargets.push(entry);
      return;
    }
    // [MQTT-3.8.3-3] No Local: not to the connection that published it.
    if (options.noLocal && message.origin === session.clientId) return;
    if (session.fanoutStamp !== this.stamp) {
      session.fanoutStamp = this.stamp;
      session.fanoutQos = options.qos;
      session.fanoutRetainAsPublished = options.retainAsPublished;
      session.fanoutSubscriptionIds = options.subscriptionId === undefined ? undefined : [options.subscriptionId];
      this.targets.push(session);
      return;
    }
    // Overlapping subscriptions: one copy at the highest QoS, carrying every identifier (3.3.4).
    if (options.qos > session.fanoutQos) session.fanoutQos = options.qos;
    if (options.retainAsPublished) session.fanoutRetainAsPublished = true;
    if (options.subscriptionId !== undefined) {
      (session.fanoutSubscriptionIds ??= []).push(options.subscriptionId);
    }
  }
}

/** Delivers a message to the member a shared subscription chose, as that subscription grants. */
export function deliverShared(ctx: DeliveryContext, entry: SubscriptionEntry<Session>, message: Message): void {
  const options = entry.options as SubscriptionOptions;
  const qos = (message.qos < options.qos ? message.qos : options.qos) as QoS;
  const ids = options.subscriptionId === undefined ? undefined : [options.subscriptionId];
  deliver(ctx, entry.subscriber, makeDelivery(message, qos, options.retainAsPublished && message.retain, ids, entry.filter));
}
