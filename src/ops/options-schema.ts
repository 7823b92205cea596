// Every option of the broker, once: type, range, default and meaning. The library options, the
// config file and the CLI flags are all checked against this, and docs/configuration.md is
// written from it (`npm run docs:config`), so the three cannot drift apart.

import type { ObjectSpec, Spec } from './schema.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const u32 = 0xffffffff;

const int = (doc: string, min: number, max: number, dflt?: number, unit?: string): Spec =>
  ({ type: 'integer', doc, min, max, default: dflt, unit });
const bool = (doc: string, dflt?: boolean): Spec => ({ type: 'boolean', doc, default: dflt });

export const TLS_SCHEMA: ObjectSpec = {
  type: 'object',
  doc: 'TLS settings of an mqtts or wss listener. File paths are relative to the config file.',
  required: ['cert', 'key'],
  fields: {
    cert: { type: 'string', nonEmpty: true, doc: 'Server certificate chain (PEM file).' },
    key: { type: 'string', nonEmpty: true, doc: 'Private key of the certificate (PEM file).' },
    passphrase: { type: 'string', doc: 'Passphrase of an encrypted key.' },
    ca: { type: 'string', nonEmpty: true, doc: 'CA bundle (PEM file) that client certificates must chain to; needed when clientCertificates is optional or required.' },
    minVersion: { type: 'enum', values: ['TLSv1.2', 'TLSv1.3'], default: 'TLSv1.2', doc: 'Oldest TLS version accepted.' },
    ciphers: { type: 'string', nonEmpty: true, doc: "OpenSSL cipher list for TLS 1.2; Node's default when absent." },
    clientCertificates: {
      type: 'enum', values: ['none', 'optional', 'required'], default: 'none',
      doc: 'Ask clients for a certificate: none; optional (a verified one may authenticate the client, see auth.certificateUsername); required (the handshake fails without a valid one).',
    },
  },
  check: (tls) => tls.clientCertificates !== undefined && tls.clientCertificates !== 'none' && tls.ca === undefined
    ? { key: 'ca', message: 'is required when clientCertificates is optional or required' }
    : undefined,
};

export const LISTENER_SCHEMA: ObjectSpec = {
  type: 'object',
  doc: 'One network listener.',
  required: ['protocol', 'port'],
  fields: {
    name: { type: 'string', nonEmpty: true, doc: 'Name in logs and metrics.', defaultText: '`<protocol>:<port>`' },
    protocol: { type: 'enum', values: ['mqtt', 'mqtts', 'ws', 'wss'], doc: 'mqtt (TCP), mqtts (TLS), ws (WebSocket), wss (WebSocket over TLS).' },
    host: { type: 'string', doc: 'Address to bind.', defaultText: 'all interfaces' },
    port: int('Port; 0 picks a free one.', 0, 65535),
    path: { type: 'string', nonEmpty: true, default: '/mqtt', doc: 'HTTP path of a ws/wss listener.' },
    tls: TLS_SCHEMA,
    proxyProtocol: {
      type: 'object', doc: 'Expect a PROXY protocol (v1 or v2) header, and only from these peers.', required: ['trusted'],
      fields: { trusted: { type: 'list', item: { type: 'string', nonEmpty: true, doc: '' }, doc: 'Addresses or CIDR ranges of the load balancers allowed to connect.' } },
    },
    maxConnections: int('Open connections this listener accepts; 0 means no limit of its own.', 0, u32, 0),
    connectTimeout: int('Milliseconds a new connection has to send CONNECT.', 100, 3_600_000, undefined, 'ms'),
    maxPacketSize: int('Largest packet accepted on this listener after CONNECT.', 16, 268_435_460, undefined, 'bytes'),
  },
  check: (l) => (l.protocol === 'mqtts' || l.protocol === 'wss') && l.tls === undefined
    ? { key: 'tls', message: `is required for a ${String(l.protocol)} listener` }
    : undefined,
};

const ACL_RULE_SCHEMA: ObjectSpec = {
  type: 'object',
  doc: 'One ACL rule.',
  required: ['access', 'topic'],
  fields: {
    user: { type: 'string', doc: 'The user it applies to; without user or pattern it applies to anonymous clients.' },
    pattern: { type: 'boolean', doc: 'true: applies to every client, with %c and %u substituted in topic.' },
    access: { type: 'enum', values: ['read', 'write', 'readwrite', 'deny'], doc: 'What the rule grants (deny wins over every grant).' },
    topic: { type: 'string', nonEmpty: true, doc: 'Topic filter the rule covers.' },
  },
};

export const AUTH_SCHEMA: ObjectSpec = {
  type: 'object',
  doc: 'Authentication and authorization. File paths are relative to the config file.',
  fields: {
    allowAnonymous: {
      type: 'boolean',
      doc: 'Accept clients that present no credentials.',
      defaultText: 'false when passwordFile or certificateUsername is set, true otherwise',
    },
    passwordFile: { type: 'string', nonEmpty: true, doc: 'Password file in the format mosquitto_passwd writes ($7$ PBKDF2-SHA512), plus SCRAM lines written by `petrel passwd --scram`.' },
    scram: bool('Offer MQTT 5 enhanced authentication with SCRAM-SHA-256 and SCRAM-SHA-512 for users with SCRAM lines in the password file.', true),
    certificateUsername: {
      type: 'enum', values: ['none', 'cn', 'subject'], default: 'none',
      doc: "A verified TLS client certificate authenticates its client, and its Common Name (cn) or whole subject (subject) becomes the user name, replacing the CONNECT's.",
    },
    certificateAndPassword: bool('With certificateUsername: require a verified certificate and a password the password file accepts for its name (clients without a certificate are refused).', false),
    aclFile: { type: 'string', nonEmpty: true, doc: 'ACL file in Mosquitto acl_file syntax (user, topic, pattern lines).' },
    acl: { type: 'list', item: ACL_RULE_SCHEMA, doc: 'ACL rules written in the config file; used together with aclFile.' },
    maxFailuresPerMinute: int('Failed authentications from one address per minute before further attempts from it are refused (v5 0x9F) until the minute is over; 0 means no limit.', 0, 1_000_000, 10),
  },
};

export const LOG_SCHEMA: ObjectSpec = {
  type: 'object',
  doc: 'Logging.',
  fields: {
    level: { type: 'enum', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info', doc: 'Least severe level written.' },
    pretty: { type: 'boolean', doc: 'Human-readable lines instead of JSON.', defaultText: 'true when stdout is a terminal' },
  },
};

export const METRICS_SCHEMA: ObjectSpec = {
  type: 'object',
  doc: 'The HTTP endpoint for Prometheus (/metrics) and health checks (/healthz, /readyz); see docs/metrics.md.',
  fields: {
    port: { type: 'integer', min: 0, max: 65535, doc: 'Port of the endpoint; without it the endpoint is off.', defaultText: 'off' },
    host: { type: 'string', nonEmpty: true, default: '127.0.0.1', doc: 'Address it binds: loopback unless opened on purpose.' },
  },
};

export const BROKER_SCHEMA: ObjectSpec = {
  type: 'object',
  doc: 'Petrel broker options.',
  fields: {
    listeners: {
      type: 'list', item: LISTENER_SCHEMA, defaultText: 'one mqtt listener on port 1883',
      doc: 'Where the broker listens (any number of mqtt, mqtts, ws and wss listeners).',
      check: (list) => {
        const seen = new Set<string>();
        for (const l of list as { host?: string; port?: number }[]) {
          const key = `${l.host ?? '*'}:${l.port}`;
          if (l.port !== 0 && seen.has(key)) return `two listeners on ${key}`;
          seen.add(key);
        }
        return undefined;
      },
    },
    dataDir: { type: 'string', nonEmpty: true, doc: 'Directory of the embedded LMDB store. The library keeps state in memory without it.', defaultText: '`./data` for the petrel command' },
    durability: {
      type: 'enum', values: ['sync', 'batched', 'none'], default: 'sync',
      doc: 'sync: a QoS 1/2 message is acknowledged once the store has it on disk; batched: once handed to the store (a crash can lose the last few milliseconds); none: memory only.',
    },
    storeMaxSize: int('Largest size of the store files; past it publishers to stored sessions get v5 0x97 instead of an acknowledgement.', MiB, Number.MAX_SAFE_INTEGER, 16 * 1024 * MiB, 'bytes'),
    maxConnections: int('Open connections across all listeners; new ones past it are closed before any TLS or CONNECT work. 0: no limit.', 0, u32, 100_000),
    maxConnectionRate: int('New connections per second across all listeners; the excess is closed before any TLS or CONNECT work. 0: no limit.', 0, 1_000_000, 2000),
    maxSessions: int('Sessions (connected and offline) the broker holds; a CONNECT that would start one more gets 0x97 (3.x: server unavailable). 0: no limit.', 0, u32, 100_000),
    memoryBudget: int('Bytes of queued and unsent message data across all clients. Past it, QoS 0 deliveries are dropped, then publishers are slowed (their sockets are not read) until it is back under; acknowledged QoS 1/2 messages are never dropped for it. 0: no budget.', 0, Number.MAX_SAFE_INTEGER, 512 * MiB, 'bytes'),
    maxPublishRate: int('PUBLISH packets per second one client may send; past it the broker stops reading its socket until it is back within the rate. 0: no limit.', 0, 10_000_000, 0, 'msg/s'),
    maxPublishBytesRate: int('PUBLISH bytes per second one client may send, enforced the same way. 0: no limit.', 0, Number.MAX_SAFE_INTEGER, 0, 'bytes/s'),
    maxTopicLength: int('Longest topic name or filter.', 1, 65535, 65535, 'bytes'),
    maxRetainedMessages: int('Retained messages the broker keeps; past it a new retained topic is delivered but not retained. 0: no limit.', 0, u32, 1_000_000),
    maxRetainedBytes: int('Payload bytes of all retained messages; enforced the same way. 0: no limit.', 0, Number.MAX_SAFE_INTEGER, 1024 * MiB, 'bytes'),
    slowConsumerPolicy: { type: 'enum', values: ['drop-qos0', 'disconnect'], default: 'drop-qos0', doc: 'What happens to a subscriber left behind after slowConsumerTimeout: its QoS 0 messages are dropped until it catches up (drop-qos0), or it is disconnected (v5: 0x97).' },
    shutdownTimeout: int('Milliseconds the petrel command allows a graceful shutdown (goodbyes sent, store closed) before it exits anyway.', 0, 600_000, 10_000, 'ms'),
    maxPacketSize: int('Largest packet accepted after CONNECT, header included; advertised in the v5 CONNACK.', 16, 268_435_460, MiB, 'bytes'),
    maxConnectPacketSize: int('Largest CONNECT accepted (nothing else is read before CONNECT, so it is small; a large will needs it raised).', 16, 268_435_460, 64 * KiB, 'bytes'),
    connectTimeout: int('Milliseconds a new connection has to complete CONNECT.', 100, 3_600_000, 10_000, 'ms'),
    maxKeepAlive: int('Largest keep alive allowed; v5 clients asking for more (or 0) get it as Server Keep Alive.', 1, 65535, 65535, 's'),
    receiveMaximum: int('QoS 1/2 PUBLISH a client may have unacknowledged towards the broker (v5 Receive Maximum).', 1, 65535, 100),
    maxAwaitingRelease: int('QoS 2 packet ids a 3.x client may leave awaiting PUBREL.', 1, 65535, 1000),
    maxInflight: int('QoS 1/2 messages the broker keeps unacknowledged towards one client (v5: at most its Receive Maximum).', 1, 65535, 1000),
    maxQueuedMessages: int('Messages queued per session while its client is offline or its window is full.', 0, u32, 1000),
    maxQueuedBytes: int('Payload bytes queued per session.', 0, Number.MAX_SAFE_INTEGER, 64 * MiB, 'bytes'),
    queueQos0: bool('Also queue QoS 0 messages for offline persistent sessions.', false),
    maxSocketBacklog: int('Unsent bytes a connection may hold before it counts as congested; publishers paused for it resume once it is under a quarter of this.', KiB, 1024 * MiB, MiB, 'bytes'),
    slowConsumerTimeout: int('Milliseconds a congested subscriber may slow its publishers down before it is left behind (its QoS 0 dropped, QoS 1/2 queued).', 0, 3_600_000, 5000, 'ms'),
    maxSubscriptionsPerSession: int('Subscriptions one session may hold.', 1, u32, 10_000),
    maxTopicLevels: int('Levels in a topic name or filter.', 1, 65535, 128),
    maxSessionExpiryInterval: int('Longest session expiry a client may ask for (also applied to 3.x persistent sessions).', 0, u32, u32, 's'),
    maxClientIdLength: int('Longest client id.', 1, 65535, 65535, 'bytes'),
    allowEmptyClientId: bool('Assign a client id to clients that send an empty one (v5, and 3.1.1 with clean session).', true),
    topicAliasMaximum: int('Topic aliases a v5 client may set towards the broker.', 0, 65535, 10),
    outboundTopicAliases: bool('Use topic aliases towards v5 clients that allow them (least recently used per connection).', true),
    sharedSubscriptionStrategy: { type: 'enum', values: ['round-robin', 'random', 'sticky', 'hash'], default: 'round-robin', doc: 'How a shared subscription group picks the member for a message.' },
    sysInterval: int('Seconds between $SYS updates; 0 turns $SYS off.', 0, 86_400, 10, 's'),
    responseInformation: { type: 'string', default: 'response/', doc: "Prefix of the Response Information a v5 client gets when it asks (its client id follows); '' sends none." },
    maximumQoS: int('Highest QoS advertised to v5 clients.', 0, 2, 2),
    retainAvailable: bool('Advertise and accept retained messages.', true),
    wildcardSubscriptionAvailable: bool('Advertise wildcard subscriptions to v5 clients.', true),
    subscriptionIdentifiersAvailable: bool('Advertise subscription identifiers to v5 clients.', true),
    sharedSubscriptionAvailable: bool('Advertise shared subscriptions to v5 clients.', true),
    auth: AUTH_SCHEMA,
    log: LOG_SCHEMA,
    metrics: METRICS_SCHEMA,
  },
};
