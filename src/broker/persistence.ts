// The bridge from the broker's in-memory state to the Store: each change to what must outlive
// a crash becomes a store write. Only sessions that outlive their connection (expiry > 0) and
// retained messages are written; a message is stored once and counted by every queue,
// window and retained entry that holds it, and deleted with its last reference.

import { join } from 'node:path';
import type { Message } from '../session/message.js';
import { LmdbBackend } from '../store/lmdb.js';
import { TableStore } from '../store/table-store.js';
import type { ResolvedOptions } from './options.js';
import type { Delivery, Session, SubscriptionOptions } from '../session/session.js';
import type { Committed, Store, StoredDelivery, StoredInflight, StoredMessage, StoredSession } from '../store/store.js';

export class Persistence {
  private nextMessageId = 1;
  /**
   * References to a stored message beyond its first, by id: nearly every message has exactly
   * one (one subscriber), and then no entry here, which spares a map update per message.
   */
  private readonly extraRefs = new Map<number, number>();
  /** While recovery counts the references it finds: all of them, by id. */
  private restoring: Map<number, number> | undefined = new Map();
  /** Client ids of the sessions the store holds. */
  private readonly stored = new Set<string>();
  /** Counts writes, so a caller can tell whether an operation wrote anything. */
  writes = 0;

  /** The store offers a way to wait for a commit cheaper than a promise. */
  private readonly hasCommitted: boolean;

  constructor(readonly store: Store, readonly waitForCommit: boolean) {
    this.hasCommitted = store.committed !== undefined;
  }

  /** Sessions that outlive their connection are stored; the others never touch the store. */
  durable(session: Session): boolean {
    return session.expiryInterval > 0;
  }

  /** Resolves when every write so far is durable (a callback for each acknowledgement: no promise each). */
  commit(): Committed {
    return this.hasCommitted ? this.store.committed!() : this.store.commit();
  }

  /** Continues message numbering after a restart. */
  restoreMessageIds(maxId: number): void {
    this.nextMessageId = Math.max(this.nextMessageId, maxId + 1);
  }

  /** Counts a reference that recovery found in the store (nothing is written). */
  restoreRef(id: number): void {
    const counts = this.restoring!;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }

  /** References recovery found to a message; 0 for an orphan. */
  refCount(id: number): number {
    return this.restoring?.get(id) ?? 0;
  }

  /** Recovery has counted every reference: from now on counts change with the writes. */
  restored(): void {
    for (const [id, n] of this.restoring ?? []) if (n > 1) this.extraRefs.set(id, n - 1);
    this.restoring = undefined;
  }

  /** A session recovery found in the store (nothing is written). */
  restoreSession(clientId: string): void {
    this.stored.add(clientId);
  }

  private ref(message: Message): number {
    const id = message.storeId;
    if (id !== 0) {
      this.extraRefs.set(id, (this.extraRefs.get(id) ?? 0) + 1);
      return id;
    }
    message.storeId = this.nextMessageId++;
    this.store.putMessage(message.storeId, storedMessage(message));
    this.writes++;
    return message.storeId;
  }

  private unref(message: Message): void {
    const id = message.storeId;
    if (id === 0) return;
    const extra = this.extraRefs.get(id);
    if (extra !== undefined) {
      if (extra > 1) this.extraRefs.set(id, extra - 1);
      else this.extraRefs.delete(id);
      return;
    }
    this.store.deleteMessage(id);
    message.storeId = 0;
    this.writes++;
  }

  // --- sessions -------------------------------------------------------------------------

  /** A client connected: the session record, with the will of this connection. */
  sessionAttached(session: Session, record: Omit<StoredSession, 'clientId' | 'protocolVersion' | 'expiryInterval'>): void {
    if (!this.durable(session)) {
      // A session that no longer outlives its connection (resumed with expiry 0) leaves the store.
      if (this.stored.has(session.clientId)) this.sessionEnded(session);
      return;
    }
    this.writes++;
    this.store.putSession({
      clientId: session.clientId, protocolVersion: session.protocolVersion, expiryInterval: session.expiryInterval, ...record,
    });
    this.stored.add(session.clientId);
  }

  /** The session's record changed (expiry deadline, pending will). */
  sessionUpdated(session: Session, record: Omit<StoredSession, 'clientId' | 'protocolVersion' | 'expiryInterval'>): void {
    if (!this.durable(session)) return;
    this.stored.add(session.clientId);
    this.writes++;
    this.store.putSession({
      clientId: session.clientId, protocolVersion: session.protocolVersion, expiryInterval: session.expiryInterval, ...record,
    });
  }

  /** The session is over (or no longer kept): it leaves the store, with every message reference it held. */
  sessionEnded(session: Session): void {
    if (!this.stored.delete(session.clientId)) return;
    for (let i = session.queueHead; i < session.queue.length; i++) {
      const d = session.queue[i];
      if (d.seq !== 0) this.unref(d.message);
      d.seq = 0;
    }
    for (const entry of session.inflight.values()) {
      if (entry.delivery !== undefined && entry.stored) this.unref(entry.delivery.message);
      entry.stored = false;
    }
    this.store.deleteSession(session.clientId);
    this.writes++;
  }

  subscribed(session: Session, filter: string, options: SubscriptionOptions): void {
    if (!this.durable(session)) return;
    const { subscriptionId, ...rest } = options;
    this.store.putSubscription(session.clientId, filter, subscriptionId === undefined ? rest : { ...rest, subscriptionId });
    this.writes++;
  }

  unsubscribed(session: Session, filter: string): void {
    if (!this.durable(session)) return;
    this.store.deleteSubscription(session.clientId, filter);
    this.writes++;
  }

  // --- deliveries -----------------------------------------------------------------------

  /** A delivery entered the session's queue: it gets the next sequence number there. */
  queued(session: Session, d: Delivery): void {
    if (!this.durable(session)) return;
    d.seq = session.nextSeq++;
    this.store.putQueued(session.clientId, d.seq, storedDelivery(d, this.ref(d.message)));
    this.writes++;
  }

  /** A delivery left the queue (sent, expired, or handed to another member). */
  dequeued(session: Session, d: Delivery): void {
    if (d.seq === 0) return;
    this.store.deleteQueued(session.clientId, d.seq);
    this.unref(d.message);
    d.seq = 0;
    this.writes++;
  }

  /** A QoS 1/2 PUBLISH was given a packet id and sent: it waits for PUBACK / PUBREC. Returns whether it was stored. */
  sent(session: Session, packetId: number, d: Delivery): boolean {
    if (!this.durable(session)) return false;
    this.store.putInflight(session.clientId, packetId, {
      awaiting: d.qos === 1 ? 'puback' : 'pubrec', delivery: storedDelivery(d, this.ref(d.message)),
    });
    this.writes++;
    return true;
  }

  /** PUBREC came back: only the packet id is left, awaiting PUBCOMP [MQTT-4.3.3-6]. */
  released(session: Session, packetId: number, d: Delivery | undefined, stored: boolean): void {
    if (!this.durable(session)) return;
    this.store.putInflight(session.clientId, packetId, PUBCOMP);
    if (stored && d !== undefined) this.unref(d.message);
    this.writes++;
  }

  /** The exchange for a packet id is over (PUBACK, PUBCOMP, PUBREC with an error, or handed off). */
  completed(session: Session, packetId: number, d: Delivery | undefined, stored: boolean): void {
    if (!this.durable(session)) return;
    this.store.deleteInflight(session.clientId, packetId);
    if (stored && d !== undefined) this.unref(d.message);
    this.writes++;
  }

  // --- QoS 2 received -------------------------------------------------------------------

  awaitingRelease(session: Session, packetId: number): void {
    if (!this.durable(session)) return;
    this.store.putAwaitingRelease(session.clientId, packetId);
    this.writes++;
  }

  releasedInbound(session: Session, packetId: number): void {
    if (!this.durable(session)) return;
    this.store.deleteAwaitingRelease(session.clientId, packetId);
    this.writes++;
  }

  // --- retained -------------------------------------------------------------------------

  retainedSet(message: Message, previous: Message | undefined): void {
    this.store.putRetained(message.topic, this.ref(message));
    if (previous !== undefined) this.unref(previous);
    this.writes++;
  }

  retainedDeleted(previous: Message): void {
    this.store.deleteRetained(previous.topic);
    this.unref(previous);
    this.writes++;
  }
}

/** The record of every exchange past PUBREC: one object for all, as stores only read what they are given. */
const PUBCOMP: StoredInflight = Object.freeze({ awaiting: 'pubcomp' });

export function storedMessage(m: Message): StoredMessage {
  const s: StoredMessage = { topic: m.topic, payload: m.payload, qos: m.qos, retain: m.retain, expiresAt: m.expiresAt };
  if (m.properties !== undefined) s.properties = m.properties;
  if (m.origin !== undefined) s.origin = m.origin;
  return s;
}

function storedDelivery(d: Delivery, messageId: number): StoredDelivery {
  const s: StoredDelivery = { messageId, qos: d.qos, retain: d.retain };
  if (d.subscriptionIds !== undefined) s.subscriptionIds = d.subscriptionIds;
  if (d.shared !== undefined) s.shared = d.shared;
  return s;
}

/** The store the options ask for: a custom one, LMDB in the data directory, or none. */
export function openPersistence(o: ResolvedOptions, onError: (err: unknown) => void, onCommit?: (seconds: number) => void): Persistence | undefined {
  if (o.durability === 'none' && o.store === undefined) return undefined;
  if (o.store !== undefined) return new Persistence(o.store, o.durability !== 'batched');
  if (o.dataDir === undefined) return undefined;
  const backend = new LmdbBackend({
    path: join(o.dataDir, 'store'), durability: o.durability === 'batched' ? 'batched' : 'sync', maxSize: o.storeMaxSize,
  });
  return new Persistence(new TableStore(backend, { onError, onCommit }), o.durability === 'sync');
}
