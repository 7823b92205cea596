// Broker options: every limit with its default and why, in one place. The config file and the
// CLI flags feed this same object.

import { SHARED_STRATEGIES, type SharedStrategy } from '../routing/shared-strategies.js';
import type { Store } from '../store/store.js';
import type { Hooks } from './hooks.js';

export interface BrokerOptions {
  /** Largest packet accepted after CONNECT, header included; advertised in v5 CONNACK. */
  maxPacketSize?: number; // 1 MiB (EMQX's default; Mosquitto has none)
  /** Largest CONNECT accepted: nothing else is read before CONNECT, so this is small. */
  maxConnectPacketSize?: number; // 64 KiB; a will larger than this needs it raised
  /** Milliseconds a new connection has to complete CONNECT. */
  connectTimeout?: number; // 10 s (HiveMQ 10 s, EMQX 15 s, VerneMQ 5 s)
  /** Largest keep alive allowed, in seconds; v5 clients asking for more (or 0) get Server Keep Alive. */
  maxKeepAlive?: number; // 65535: no cap
  /** QoS 1/2 PUBLISH a client may have unacknowledged towards the broker (v5 Receive Maximum). */
  receiveMaximum?: number; // 100
  /** QoS 2 packet ids a 3.x client may leave awaiting PUBREL (v5 clients are held to receiveMaximum). */
  maxAwaitingRelease?: number; // 1000
  /** QoS 1/2 PUBLISH the broker keeps unacknowledged towards one client (3.x; v5 uses the smaller of this and the client's Receive Maximum). */
  maxInflight?: number; // 1000
  /** Messages queued per session while its client is offline or its window is full. */
  maxQueuedMessages?: number; // 1000 (Mosquitto, EMQX, HiveMQ, VerneMQ)
  /** Bytes of payload queued per session. */
  maxQueuedBytes?: number; // 64 MiB
  /** Also queue QoS 0 messages for offline persistent sessions. */
  queueQos0?: boolean; // false
  /**
   * Unsent bytes a connection may hold before it counts as congested: the publishers feeding it
   * are paused until it drains (see slowConsumerTimeout), QoS 1/2 wait in its queue.
   */
  maxSocketBacklog?: number; // 256 KiB: it only has to absorb one turn's burst
  /**
   * Milliseconds a subscriber may stay unable to keep up while its publishers are slowed down
   * for it; past that it is left behind (its QoS 0 dropped, QoS 1/2 queued within bounds).
   */
  slowConsumerTimeout?: number; // 5 s
  /** Subscriptions one session may hold. */
  maxSubscriptionsPerSession?: number; // 10 000
  /** Levels in a topic name or filter (the tree is walked level by level). */
  maxTopicLevels?: number; // 128 (EMQX)
  /** Longest session a client may ask for, in seconds (also applied to 3.x persistent sessions). */
  maxSessionExpiryInterval?: number; // 0xFFFFFFFF: never expires
  /** Longest client id, in bytes. */
  maxClientIdLength?: number; // 65535
  /** Give a client that sends an empty client id one of ours (v5, and 3.1.1 with clean session). */
  allowEmptyClientId?: boolean; // true
  /** Topic Alias Maximum advertised to v5 clients (aliases a client may set towards us). */
  topicAliasMaximum?: number; // 10
  /** Give v5 clients that allow it Topic Aliases for the topics we send them (LRU per connection). */
  outboundTopicAliases?: boolean; // true
  /** How a shared subscription group picks its member: round-robin, random, sticky (by publisher), hash (by topic). */
  sharedSubscriptionStrategy?: SharedStrategy; // 'round-robin'
  /** Seconds between `$SYS` updates; 0 turns `$SYS` off. */
  sysInterval?: number; // 10
  /** Prefix of the Response Information a v5 client gets when it asks (followed by its client id); '' never sends one. */
  responseInformation?: string; // 'response/'
  /** Features advertised in the v5 CONNACK. */
  maximumQoS?: 0 | 1 | 2; // 2
  retainAvailable?: boolean; // true
  wildcardSubscriptionAvailable?: boolean; // true
  subscriptionIdentifiersAvailable?: boolean; // true
  sharedSubscriptionAvailable?: boolean; // true
  /**
   * Where the embedded store (LMDB) keeps its files. Without it the broker keeps its state in
   * memory only (the `petrel` command defaults it to ./data).
   */
  dataDir?: string;
  /**
   * sync: a QoS 1/2 PUBLISH is acknowledged once the store has it on disk. batched: once it
   * is handed to the store (a crash can lose the last few milliseconds). none: memory only.
   */
  durability?: Durability; // 'sync'
  /** Largest size of the LMDB store's files, in bytes; past it, publishers to stored sessions get v5 0x97 (3.x: disconnected) instead of an acknowledgement. */
  storeMaxSize?: number; // 16 GiB
  /** A store of your own, instead of LMDB in dataDir. */
  store?: Store;
  /** Authentication and authorization hooks. */
  hooks?: Hooks;
}

export type Durability = 'sync' | 'batched' | 'none';

type Plain = Omit<BrokerOptions, 'hooks' | 'dataDir' | 'store'>;
export type ResolvedOptions = Required<Plain> & { hooks: Hooks; dataDir: string | undefined; store: Store | undefined };

export const DEFAULT_OPTIONS: Required<Plain> = {
  maxPacketSize: 1024 * 1024,
  maxConnectPacketSize: 64 * 1024,
  connectTimeout: 10_000,
  maxKeepAlive: 65535,
  receiveMaximum: 100,
  maxAwaitingRelease: 1000,
  maxInflight: 1000,
  maxQueuedMessages: 1000,
  maxQueuedBytes: 64 * 1024 * 1024,
  queueQos0: false,
  maxSocketBacklog: 256 * 1024,
  slowConsumerTimeout: 5000,
  maxSubscriptionsPerSession: 10_000,
  maxTopicLevels: 128,
  maxSessionExpiryInterval: 0xffffffff,
  maxClientIdLength: 65535,
  allowEmptyClientId: true,
  topicAliasMaximum: 10,
  outboundTopicAliases: true,
  sharedSubscriptionStrategy: 'round-robin',
  sysInterval: 10,
  responseInformation: 'response/',
  maximumQoS: 2,
  retainAvailable: true,
  wildcardSubscriptionAvailable: true,
  subscriptionIdentifiersAvailable: true,
  sharedSubscriptionAvailable: true,
  durability: 'sync',
  storeMaxSize: 16 * 1024 ** 3,
};

export function resolveOptions(options: BrokerOptions = {}): ResolvedOptions {
  const resolved: ResolvedOptions = { ...DEFAULT_OPTIONS, hooks: {} as Hooks, dataDir: undefined, store: undefined };
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    if (!(key in resolved)) throw new TypeError(`unknown broker option '${key}'`);
    (resolved as Record<string, unknown>)[key] = value;
  }
  checkRange(resolved.maxPacketSize, 'maxPacketSize', 16, 268_435_460);
  checkRange(resolved.maxConnectPacketSize, 'maxConnectPacketSize', 16, 268_435_460);
  checkRange(resolved.receiveMaximum, 'receiveMaximum', 1, 65535);
  checkRange(resolved.maxInflight, 'maxInflight', 1, 65535);
  checkRange(resolved.maxKeepAlive, 'maxKeepAlive', 1, 65535);
  checkRange(resolved.topicAliasMaximum, 'topicAliasMaximum', 0, 65535);
  checkRange(resolved.maxSessionExpiryInterval, 'maxSessionExpiryInterval', 0, 0xffffffff);
  checkRange(resolved.sysInterval, 'sysInterval', 0, 86_400);
  if (!['sync', 'batched', 'none'].includes(resolved.durability)) {
    throw new TypeError("option durability must be 'sync', 'batched' or 'none'");
  }
  if (!SHARED_STRATEGIES.includes(resolved.sharedSubscriptionStrategy)) {
    throw new TypeError(`option sharedSubscriptionStrategy must be one of ${SHARED_STRATEGIES.join(', ')}`);
  }
  return resolved;
}

function checkRange(value: number, name: string, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(`option ${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
}
