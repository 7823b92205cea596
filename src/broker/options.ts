// Broker options: every limit with its default and why, in one place. The config file and the
// CLI flags feed this same object.

import { BROKER_SCHEMA } from '../ops/options-schema.js';
import { defaultsOf, formatPath, validate } from '../ops/schema.js';
import type { SharedStrategy } from '../routing/shared-strategies.js';
import type { Store } from '../store/store.js';
import type { ListenerConfig } from '../transport/listener.js';
import type { Hooks } from './hooks.js';

export interface BrokerOptions {
  /** Global limits: see BROKER_SCHEMA (src/ops/options-schema.ts) for meaning and defaults. */
  maxConnections?: number;
  maxConnectionRate?: number;
  maxSessions?: number;
  memoryBudget?: number;
  maxPublishRate?: number;
  maxPublishBytesRate?: number;
  maxTopicLength?: number;
  maxRetainedMessages?: number;
  maxRetainedBytes?: number;
  slowConsumerPolicy?: 'drop-qos0' | 'disconnect';
  shutdownTimeout?: number;
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
  maxSocketBacklog?: number; // 1 MiB: 64 packets of 16 KiB, so large messages are not paused on every read
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
  /** Where `start()` listens; one mqtt listener on 1883 by default. */
  listeners?: ListenerConfig[];
  /** Password file, client certificates, SCRAM and ACL; chained with `hooks`. */
  auth?: AuthOptions;
  /** Logging (used by the petrel command). */
  log?: LogOptions;
  /** Prometheus metrics and health endpoints (started by the petrel command, or startOpsServer). */
  metrics?: MetricsOptions;
  /** Authentication and authorization hooks. */
  hooks?: Hooks;
}

export type Durability = 'sync' | 'batched' | 'none';

/** Authentication and authorization from files; see AUTH_SCHEMA for each key's meaning and default. */
export interface AuthOptions {
  allowAnonymous?: boolean;
  passwordFile?: string;
  scram?: boolean;
  certificateUsername?: 'none' | 'cn' | 'subject';
  certificateAndPassword?: boolean;
  aclFile?: string;
  acl?: AclRule[];
  maxFailuresPerMinute?: number;
}

export interface AclRule {
  user?: string;
  pattern?: boolean;
  access: 'read' | 'write' | 'readwrite' | 'deny';
  topic: string;
}

/** The HTTP endpoint for /metrics, /healthz and /readyz; off without a port. */
export interface MetricsOptions {
  port?: number;
  host?: string;
}

export interface LogOptions {
  level?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  pretty?: boolean;
}

/** Options that are objects or have no default: not part of DEFAULT_OPTIONS. */
type Structured = 'hooks' | 'dataDir' | 'store' | 'listeners' | 'auth' | 'log' | 'metrics';
type Plain = Omit<BrokerOptions, Structured>;
export type ResolvedOptions = Required<Plain> & {
  hooks: Hooks;
  dataDir: string | undefined;
  store: Store | undefined;
  listeners: ListenerConfig[];
  auth: AuthOptions;
  log: LogOptions;
  metrics: MetricsOptions;
};

const SCHEMA_DEFAULTS = defaultsOf(BROKER_SCHEMA);
delete SCHEMA_DEFAULTS.auth;
delete SCHEMA_DEFAULTS.log;
delete SCHEMA_DEFAULTS.metrics;

/** The default of every plain option, as BROKER_SCHEMA declares it. */
export const DEFAULT_OPTIONS = Object.freeze(SCHEMA_DEFAULTS) as Readonly<Required<Plain>>;

export const DEFAULT_LISTENERS: readonly ListenerConfig[] = [{ protocol: 'mqtt', port: 1883 }];

/** Fills in defaults and checks every option against BROKER_SCHEMA; throws a TypeError naming the first bad key. */
export function resolveOptions(options: BrokerOptions = {}): ResolvedOptions {
  const { hooks, store, ...plain } = options;
  const issues = validate(BROKER_SCHEMA, plain);
  if (issues.length > 0) {
    const first = issues[0];
    throw new TypeError(`option ${formatPath(first.path)}: ${first.message}`);
  }
  const resolved = {
    ...DEFAULT_OPTIONS, listeners: [...DEFAULT_LISTENERS], auth: {}, log: {}, metrics: {}, dataDir: undefined, store, hooks: hooks ?? {},
  } as ResolvedOptions;
  for (const [key, value] of Object.entries(plain)) {
    if (value !== undefined) (resolved as Record<string, unknown>)[key] = value;
  }
  return resolved;
}
