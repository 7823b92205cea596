// One client's session: its subscriptions, the outbound inflight window and queue, the inbound
// QoS 2 packet ids awaiting PUBREL, its will and expiry. Plain data and small functions; the
// network link is an Outlet, so this module knows nothing of sockets or byte layout.

import type { ProtocolVersion, QoS, Will } from '../protocol/index.js';
import { messageCost, type Message } from './message.js';
import type { OutboundAliases } from './topic-aliases.js';

export interface SubscriptionOptions {
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
  subscriptionId: number | undefined;
  /** A `$share/{group}/{filter}` subscription. */
  shared: boolean;
}

/** A message on its way to one subscriber. */
export interface Delivery {
  readonly message: Message;
  readonly qos: QoS;
  /** The RETAIN flag this subscriber sees. */
  readonly retain: boolean;
  readonly subscriptionIds: number[] | undefined;
  /** The shared subscription (`$share/...`) it came through, so it can go to another member. */
  readonly shared: string | undefined;
  /** Its sequence number in a stored queue; 0 when not stored. */
  seq: number;
}

export type Awaiting = 'puback' | 'pubrec' | 'pubcomp';

export interface InflightEntry {
  readonly packetId: number;
  /** Undefined once PUBREC came back: only the id is left to complete. */
  delivery: Delivery | undefined;
  awaiting: Awaiting;
  /** Whether the store holds this entry (its session outlives its connection). */
  stored: boolean;
}

/** The network link a session is attached to while its client is connected. */
export interface Outlet {
  readonly protocolVersion: ProtocolVersion;
  /** Most unacknowledged QoS 1/2 PUBLISH packets the client accepts (v5 Receive Maximum). */
  readonly sendQuota: number;
  /** Largest packet the client accepts (v5 Maximum Packet Size). */
  readonly maxPacketSize: number;
  /** Outbound Topic Aliases, when the v5 client allows them and the broker uses them. */
  readonly topicAliases: OutboundAliases | undefined;
  /** True while the link holds more unsent bytes than its budget. */
  congested(): boolean;
  /** True once the link is back well under its budget (a quarter of it). */
  relaxed(): boolean;
  write(head: Buffer, tail?: Buffer): void;
}

/** A publisher whose reading can be paused while a session it feeds cannot keep up. */
export interface Pausable {
  pauseReading(): void;
  resumeReading(): void;
}

export interface QueueLimits {
  maxMessages: number;
  maxBytes: number;
}

export interface Session {
  readonly clientId: string;
  protocolVersion: ProtocolVersion;
  /** Shared and empty until the first subscription: write through addSubscription. */
  subscriptions: Map<string, SubscriptionOptions>;
  /** Seconds the session outlives its connection: 0 ends it with the connection, 0xFFFFFFFF never. */
  expiryInterval: number;
  outlet: Outlet | undefined;
  /** Shared and empty until the first QoS 1/2 delivery: write through addInflight. */
  inflight: Map<number, InflightEntry>;
  /** Deliveries waiting for the client or for room in its window; `queueHead` is the first live one. */
  queue: Delivery[];
  queueHead: number;
  queuedBytes: number;
  nextPacketId: number;
  /** Next sequence number for a stored queue entry. */
  nextSeq: number;
  /**
   * QoS 2 packet ids received and not yet released by PUBREL [MQTT-4.3.3-10] (v5) / [MQTT-4.3.3-2]
   * (3.1.1). Shared and empty until the first one: write through addAwaitingRelease.
   */
  awaitingRelease: Set<number>;
  /** A delayed will of the last connection, until it is published or cancelled. */
  will: Will | undefined;
  /** Epoch ms when `will` is due; 0 when none is pending. */
  willAt: number;
  /** Epoch ms when the session expires while its client is away; 0 while connected. */
  expiresAt: number;
  /** Increases at every takeover: a cluster uses it to tell the owner apart. */
  epoch: number;
  /** Fan-out scratch: the publish this session last matched, merged over overlapping filters. */
  fanoutStamp: number;
  fanoutQos: QoS;
  fanoutRetainAsPublished: boolean;
  fanoutSubscriptionIds: number[] | undefined;
  /**
   * Retained messages matched by new subscriptions, sent after the queue as the window and the
   * socket allow: a wildcard over a large retained set is neither buffered whole nor cut short.
   */
  retainedBacklog: Delivery[] | undefined;
  retainedNext: number;
  /** Publishers paused because this session could not keep up; resumed when it catches up. */
  blockedPublishers: Set<Pausable> | undefined;
  /** performance.now() when the current spell of congestion began; 0 when not congested. */
  congestedSince: number;
  /** When it was last left behind for being slow (performance.now()); 0: never. */
  isolatedAt: number;
  /** Counters of messages this session did not get, by reason. */
  dropped: DropCounters;
}

/** Messages not delivered, by reason: per session, and summed for the broker. */
export interface DropCounters {
  queueFull: number;
  expired: number;
  tooLarge: number;
  slowConsumer: number;
  notAuthorized: number;
  memoryBudget: number;
}

export function newDropCounters(): DropCounters {
  return { queueFull: 0, expired: 0, tooLarge: 0, slowConsumer: 0, notAuthorized: 0, memoryBudget: 0 };
}

/**
 * The empty collections every new session starts with, shared until its first write: most
 * connections never subscribe or take QoS 2, and three empty tables each were a sixth of an
 * idle connection's heap. Writing to one of them is a bug, and throws.
 */
class SharedEmptyMap<K, V> extends Map<K, V> {
  override set(): this {
    throw new Error('shared empty map written to: use the session helpers');
  }
}

class SharedEmptySet<T> extends Set<T> {
  override add(): this {
    throw new Error('shared empty set written to: use the session helpers');
  }
}

const NO_SUBSCRIPTIONS: Map<string, SubscriptionOptions> = new SharedEmptyMap();
const NO_INFLIGHT: Map<number, InflightEntry> = new SharedEmptyMap();
const NO_AWAITING_RELEASE: Set<number> = new SharedEmptySet();

export function addSubscription(s: Session, filter: string, options: SubscriptionOptions): void {
  if (s.subscriptions === NO_SUBSCRIPTIONS) s.subscriptions = new Map();
  s.subscriptions.set(filter, options);
}

export function addInflight(s: Session, entry: InflightEntry): void {
  if (s.inflight === NO_INFLIGHT) s.inflight = new Map();
  s.inflight.set(entry.packetId, entry);
}

export function addAwaitingRelease(s: Session, packetId: number): void {
  if (s.awaitingRelease === NO_AWAITING_RELEASE) s.awaitingRelease = new Set();
  s.awaitingRelease.add(packetId);
}

export function createSession(clientId: string, protocolVersion: ProtocolVersion, expiryInterval: number): Session {
  return {
    clientId,
    protocolVersion,
    subscriptions: NO_SUBSCRIPTIONS,
    expiryInterval,
    outlet: undefined,
    inflight: NO_INFLIGHT,
    queue: [],
    queueHead: 0,
    queuedBytes: 0,
    nextPacketId: 1,
    nextSeq: 1,
    awaitingRelease: NO_AWAITING_RELEASE,
    will: undefined,
    willAt: 0,
    expiresAt: 0,
    epoch: 0,
    fanoutStamp: 0,
    fanoutQos: 0,
    fanoutRetainAsPublished: false,
    fanoutSubscriptionIds: undefined,
    retainedBacklog: undefined,
    retainedNext: 0,
    blockedPublishers: undefined,
    congestedSince: 0,
    isolatedAt: 0,
    dropped: newDropCounters(),
  };
}

export function queueLength(s: Session): number {
  return s.queue.length - s.queueHead;
}

/** Adds a delivery at the end of the queue; false (and nothing queued) when a bound is reached. */
export function enqueue(s: Session, d: Delivery, limits: QueueLimits): boolean {
  const cost = messageCost(d.message);
  // Full: the caller counts the drop (it knows the broker-wide counters too).
  if (queueLength(s) >= limits.maxMessages || s.queuedBytes + cost > limits.maxBytes) return false;
  s.queue.push(d);
  s.queuedBytes += cost;
  return true;
}

export function peekQueue(s: Session): Delivery | undefined {
  return s.queueHead < s.queue.length ? s.queue[s.queueHead] : undefined;
}

export function shiftQueue(s: Session): Delivery | undefined {
  if (s.queueHead >= s.queue.length) return undefined;
  const d = s.queue[s.queueHead];
  s.queue[s.queueHead] = undefined as unknown as Delivery;
  s.queueHead++;
  s.queuedBytes -= messageCost(d.message);
  if (s.queueHead === s.queue.length) {
    s.queue.length = 0;
    s.queueHead = 0;
  } else if (s.queueHead > 1024 && s.queueHead * 2 > s.queue.length) {
    s.queue = s.queue.slice(s.queueHead);
    s.queueHead = 0;
  }
  return d;
}

export function clearQueue(s: Session): void {
  s.queue = [];
  s.queueHead = 0;
  s.queuedBytes = 0;
  s.retainedBacklog = undefined;
  s.retainedNext = 0;
}

/**
 * A packet identifier not in use by any unacknowledged outbound PUBLISH [MQTT-2.2.1-3],
 * or undefined when all 65535 are taken.
 */
export function allocatePacketId(s: Session): number | undefined {
  if (s.inflight.size >= 65535) return undefined;
  let id = s.nextPacketId;
  while (s.inflight.has(id)) id = id === 65535 ? 1 : id + 1;
  s.nextPacketId = id === 65535 ? 1 : id + 1;
  return id;
}
