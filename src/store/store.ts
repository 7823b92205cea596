// The Store: what outlives a crash, at the level of the domain. The broker keeps its state in
// memory and tells the store every change to what must be durable; the store applies a turn's
// changes in one transaction. `commit()` says when everything told so far is durable, and the
// broker acknowledges a QoS 1/2 PUBLISH only after it resolves.

import type { ProtocolVersion, PublishProperties, QoS, Will } from '../protocol/index.js';

export interface StoredMessage {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  properties?: PublishProperties;
  /** Epoch ms when it expires; 0: never. */
  expiresAt: number;
  origin?: string;
}

export interface StoredSession {
  clientId: string;
  protocolVersion: ProtocolVersion;
  /** Seconds the session outlives its connection. */
  expiryInterval: number;
  /** Epoch ms when the session expires if its client stays away; 0 while connected. */
  expiresAt: number;
  /** The will of the current connection, or the delayed will of the last one. */
  will?: Will;
  /** Epoch ms when a delayed will is due; 0 when there is none pending (the will belongs to a live connection). */
  willAt: number;
}

export interface StoredSubscription {
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
  subscriptionId?: number;
  shared: boolean;
}

/** A message waiting in a session's queue, or sent and unacknowledged (inflight). */
export interface StoredDelivery {
  messageId: number;
  qos: QoS;
  retain: boolean;
  subscriptionIds?: number[];
  shared?: string;
}

export interface StoredInflight {
  awaiting: 'puback' | 'pubrec' | 'pubcomp';
  /** Absent once PUBREC came back: only the packet id is left to complete. */
  delivery?: StoredDelivery;
}

/** Everything a store holds, as read at start. Lists are in key order. */
export interface StoredState {
  sessions: StoredSession[];
  subscriptions: { clientId: string; filter: string; subscription: StoredSubscription }[];
  /** In queue order per session. */
  queued: { clientId: string; seq: number; delivery: StoredDelivery }[];
  inflight: { clientId: string; packetId: number; entry: StoredInflight }[];
  awaitingRelease: { clientId: string; packetId: number }[];
  messages: Map<number, StoredMessage>;
  retained: { topic: string; messageId: number }[];
}

/** The write operations of a Store: what a commit holds, and what journal replay applies. */
export interface StoreWrites {
  putSession(session: StoredSession): void;
  /** Deletes the session with its subscriptions, queue, inflight and QoS 2 receive state. */
  deleteSession(clientId: string): void;
  putSubscription(clientId: string, filter: string, subscription: StoredSubscription): void;
  deleteSubscription(clientId: string, filter: string): void;
  putMessage(id: number, message: StoredMessage): void;
  deleteMessage(id: number): void;
  putQueued(clientId: string, seq: number, delivery: StoredDelivery): void;
  deleteQueued(clientId: string, seq: number): void;
  putInflight(clientId: string, packetId: number, entry: StoredInflight): void;
  deleteInflight(clientId: string, packetId: number): void;
  putAwaitingRelease(clientId: string, packetId: number): void;
  deleteAwaitingRelease(clientId: string, packetId: number): void;
  putRetained(topic: string, messageId: number): void;
  deleteRetained(topic: string): void;
}

export interface Store extends StoreWrites {
  readonly kind: 'memory' | 'lmdb';
  /** Reads the whole state (at start, before any write). */
  load(): Promise<StoredState>;

  /** True when writes were made that no commit() has been asked for yet. */
  readonly dirty: boolean;
  /**
   * Resolves when every write made so far is durable, as this store defines it; rejects when
   * the commit holding them failed (the writes are then lost: nothing may be acknowledged).
   */
  commit(): Promise<void>;
  /**
   * Optional, as commit() but for a caller per acknowledgement: a store that can keep its
   * waiters in a list spares a promise each. Without it, commit() serves.
   */
  committed?(): Committed;
  close(): Promise<void>;
}

/** What waits for a commit: then(ok, failed), as on a promise (a promise is one). */
export interface Committed {
  then(ok: () => void, failed?: (err: unknown) => void): void;
}
