// Start after a stop or a crash: the state read from the store becomes sessions,
// subscriptions, queues, windows, QoS 2 receive state and retained messages again. Records
// that lost their meaning (expired messages, entries of a missing session or message) are
// purged; sessions that expired while the broker was down end, with their wills.

import type { RetainedIndex } from '../routing/retained.js';
import type { TopicTree } from '../routing/topic-tree.js';
import { messageCost, restoredMessage, type Message } from '../session/message.js';
import type { SessionRegistry } from '../session/registry.js';
import { addAwaitingRelease, addInflight, addSubscription, createSession, type Session } from '../session/session.js';
import type { StoredState } from '../store/store.js';
import { makeDelivery } from './delivery.js';
import type { Persistence } from './persistence.js';

export interface RecoveryTarget {
  readonly registry: SessionRegistry;
  readonly tree: TopicTree<Session>;
  readonly retained: RetainedIndex<Message>;
}

export interface RecoveryReport {
  sessions: number;
  queued: number;
  inflight: number;
  retained: number;
  purged: number;
}

export function recover(t: RecoveryTarget, persist: Persistence, state: StoredState, now = Date.now()): RecoveryReport {
  const store = persist.store;
  const report: RecoveryReport = { sessions: 0, queued: 0, inflight: 0, retained: 0, purged: 0 };
  const messages = new Map<number, Message>();
  let maxId = 0;
  for (const [id, m] of state.messages) {
    messages.set(id, restoredMessage(id, m));
    if (id > maxId) maxId = id;
  }
  persist.restoreMessageIds(maxId);

  const sessions = new Map<string, Session>();
  for (const r of state.sessions) {
    sessions.set(r.clientId, createSession(r.clientId, r.protocolVersion, r.expiryInterval));
    persist.restoreSession(r.clientId);
  }

  for (const { clientId, filter, subscription } of state.subscriptions) {
    const session = sessions.get(clientId);
    if (session === undefined) continue; // deleted with a missing session below
    const options = { ...subscription, subscriptionId: subscription.subscriptionId };
    addSubscription(session, filter, options);
    t.tree.add(session, filter, options);
  }

  for (const { clientId, seq, delivery } of state.queued) {
    const session = sessions.get(clientId);
    const message = messages.get(delivery.messageId);
    if (session === undefined || message === undefined || (message.expiresAt !== 0 && message.expiresAt <= now)) {
      // An expired message is not delivered (3.3.2.3.3): purged with its queue entry.
      if (session !== undefined) store.deleteQueued(clientId, seq);
      report.purged++;
      continue;
    }
    const d = makeDelivery(message, delivery.qos, delivery.retain, delivery.subscriptionIds, delivery.shared);
    d.seq = seq;
    session.queue.push(d);
    session.queuedBytes += messageCost(message);
    if (seq >= session.nextSeq) session.nextSeq = seq + 1;
    persist.restoreRef(message.storeId);
    report.queued++;
  }

  for (const { clientId, packetId, entry } of state.inflight) {
    const session = sessions.get(clientId);
    if (session === undefined) continue;
    const message = entry.delivery === undefined ? undefined : messages.get(entry.delivery.messageId);
    if (entry.delivery !== undefined && message === undefined) {
      store.deleteInflight(clientId, packetId);
      report.purged++;
      continue;
    }
    // A PUBLISH already sent is not expired any more [MQTT-4.3.3-7] (v5): it is re-sent as it was.
    const delivery = entry.delivery === undefined || message === undefined ? undefined
      : makeDelivery(message, entry.delivery.qos, entry.delivery.retain, entry.delivery.subscriptionIds, entry.delivery.shared);
    addInflight(session, { packetId, delivery, awaiting: entry.awaiting, stored: true });
    if (message !== undefined) persist.restoreRef(message.storeId);
    session.nextPacketId = packetId === 65535 ? 1 : packetId + 1;
    report.inflight++;
  }

  for (const { clientId, packetId } of state.awaitingRelease) {
    const session = sessions.get(clientId);
    if (session !== undefined) addAwaitingRelease(session, packetId);
  }

  for (const { topic, messageId } of state.retained) {
    const message = messages.get(messageId);
    if (message === undefined || (message.expiresAt !== 0 && message.expiresAt <= now)) {
      store.deleteRetained(topic);
      report.purged++;
      continue;
    }
    t.retained.set(topic, message, false);
    persist.restoreRef(messageId);
    report.retained++;
  }

  // Messages nothing refers to any more.
  for (const id of messages.keys()) {
    if (persist.refCount(id) === 0) {
      store.deleteMessage(id);
      report.purged++;
    }
  }
  persist.restored();

  // Last, the sessions take up their lives: timers, and wills that came due (which may be
  // delivered to the sessions restored above).
  for (const r of state.sessions) {
    const session = sessions.get(r.clientId)!;
    t.registry.restore(session, r.expiresAt, r.will, r.willAt, now);
    if (t.registry.get(r.clientId) === session) {
      persist.sessionUpdated(session, { expiresAt: session.expiresAt, will: session.will, willAt: session.willAt });
      report.sessions++;
    }
  }
  return report;
}
