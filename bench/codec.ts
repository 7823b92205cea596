// The `codec` group: our MQTT codec against mqtt-packet on the same workloads.
//
//   decode   a realistic stream: one large Buffer of packets back to back, fed in 64 KiB chunks
//            (as a socket delivers them) to one long-lived Decoder / one mqtt-packet parser.
//            CONNECT is the first packet of a connection, so it is decoded by a fresh
//            Decoder / parser per connection, each getting its CONNECT as one chunk.
//   encode   one packet object encoded again and again: encode() against generate().
//   fan-out  one message delivered to N subscribers: preparePublish() once and publishHead()
//            per subscriber, against generate() of a fresh packet object per subscriber
//            (what Aedes does).

import {
  generate, parser,
  type IConnectPacket, type IPublishPacket, type Packet as MqttPacket, type UserProperties,
} from 'mqtt-packet';
import {
  Decoder, encode, PacketType, preparePublish, publishHead,
  type ConnectPacket, type Packet, type ProtocolVersion, type PublishContent, type PublishPacket,
  type PublishProperties, type QoS, type UserProperty,
} from '../src/protocol/index.js';
import {
  runCases, type BenchGroup, type GroupOptions, type GroupReport, type PairCase, type Workload,
} from './harness.js';

const TOPIC = 'bench/sensor/42';
const SMALL = 64;
const LARGE = 16 * 1024;
const CHUNK = 64 * 1024;
/** Size of the decoded stream: one pass over it is one step. */
const STREAM_BYTES = 2 * 1024 * 1024;
/** Distinct CONNECT packets, one per simulated connection. */
const CONNECTS = 512;
/** Packets encoded per step. */
const ENCODE_BATCH = 64;
/** Subscribers per message in the fan-out cases. */
const SUBSCRIBERS = 100;

type Version = 4 | 5;

const versionName = (v: ProtocolVersion): string => (v === 5 ? '5.0' : v === 4 ? '3.1.1' : '3.1');
const sizeName = (n: number): string => (n >= 1024 ? `${n / 1024}KiB` : `${n}B`);

// --- the packets -----------------------------------------------------------------------------

function payloadOf(size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

/** A typical set of MQTT 5 PUBLISH properties, for the "+props" cases. */
const PUBLISH_PROPS: PublishProperties = {
  payloadFormatIndicator: false,
  messageExpiryInterval: 3600,
  contentType: 'application/octet-stream',
  userProperties: [['trace-id', '4bf92f3577b34da6']],
};

function publishPacket(size: number, qos: QoS, packetId: number, properties?: PublishProperties): PublishPacket {
  const p: PublishPacket = {
    type: PacketType.PUBLISH,
    topic: TOPIC,
    payload: payloadOf(size),
    qos,
    retain: false,
    dup: false,
    packetId: qos > 0 ? packetId : 0,
  };
  if (properties !== undefined) p.properties = properties;
  return p;
}

function connectPacket(version: Version, index: number): ConnectPacket {
  const p: ConnectPacket = {
    type: PacketType.CONNECT,
    protocolVersion: version,
    clean: true,
    keepAlive: 60,
    clientId: `bench-client-${String(index).padStart(6, '0')}`,
    username: 'bench-user',
    password: Buffer.from('bench-secret'),
  };
  if (version === 5) {
    p.properties = {
      sessionExpiryInterval: 3600,
      receiveMaximum: 100,
      topicAliasMaximum: 10,
      userProperties: [['client-kind', 'sensor']],
    };
  }
  return p;
}

function userPropertiesOf(pairs: UserProperty[] | undefined): UserProperties | undefined {
  if (pairs === undefined) return undefined;
  const out: UserProperties = {};
  for (const [k, v] of pairs) out[k] = v;
  return out;
}

/** The same PUBLISH as mqtt-packet sees it. */
function toMqttPublish(p: PublishPacket): IPublishPacket {
  const out: IPublishPacket = {
    cmd: 'publish', topic: p.topic, payload: p.payload, qos: p.qos, dup: p.dup, retain: p.retain,
  };
  if (p.qos > 0) out.messageId = p.packetId;
  const props = p.properties;
  if (props !== undefined) {
    out.properties = {};
    if (props.payloadFormatIndicator !== undefined) out.properties.payloadFormatIndicator = props.payloadFormatIndicator;
    if (props.messageExpiryInterval !== undefined) out.properties.messageExpiryInterval = props.messageExpiryInterval;
    if (props.contentType !== undefined) out.properties.contentType = props.contentType;
    const user = userPropertiesOf(props.userProperties);
    if (user !== undefined) out.properties.userProperties = user;
  }
  return out;
}

/** The same CONNECT as mqtt-packet sees it. */
function toMqttConnect(p: ConnectPacket): IConnectPacket {
  const out: IConnectPacket = {
    cmd: 'connect',
    protocolId: p.protocolVersion === 3 ? 'MQIsdp' : 'MQTT',
    protocolVersion: p.protocolVersion,
    clean: p.clean,
    keepalive: p.keepAlive,
    clientId: p.clientId,
  };
  if (p.username !== undefined) out.username = p.username;
  if (p.password !== undefined) out.password = p.password;
  const props = p.properties;
  if (props !== undefined) {
    out.properties = {};
    if (props.sessionExpiryInterval !== undefined) out.properties.sessionExpiryInterval = props.sessionExpiryInterval;
    if (props.receiveMaximum !== undefined) out.properties.receiveMaximum = props.receiveMaximum;
    if (props.topicAliasMaximum !== undefined) out.properties.topicAliasMaximum = props.topicAliasMaximum;
    const user = userPropertiesOf(props.userProperties);
    if (user !== undefined) out.properties.userProperties = user;
  }
  return out;
}

// --- cross-checks: both sides must be doing the same work ------------------------------------

/** Every packet mqtt-packet parses out of `bytes`, or the error it reports. */
function mqttParseAll(bytes: Buffer, version: ProtocolVersion): MqttPacket[] {
  const out: MqttPacket[] = [];
  let failure: unknown;
  const ps = parser({ protocolVersion: version });
  ps.on('packet', (p) => out.push(p));
  ps.on('error', (e: unknown) => { failure = e; });
  ps.parse(bytes);
  if (failure !== undefined) throw new Error(`mqtt-packet cannot parse: ${String(failure)}`);
  return out;
}

/** Our decoding of one packet, as a client-side decoder (PUBLISH) or server-side (CONNECT). */
function oursParseOne(bytes: Buffer, version: Version, type: number): Packet {
  const d = type === PacketType.CONNECT ? new Decoder() : new Decoder({ side: 'client', protocolVersion: version });
  d.push(bytes);
  const p = d.next();
  if (p === undefined || p.type !== type || d.bufferedBytes !== 0) throw new Error('our decoder did not read exactly one packet');
  return p;
}

function samePublish(a: PublishPacket, b: IPublishPacket): boolean {
  const payload = typeof b.payload === 'string' ? Buffer.from(b.payload) : b.payload;
  return a.topic === b.topic && a.qos === b.qos && a.retain === b.retain && a.dup === b.dup &&
    (a.qos === 0 || a.packetId === b.messageId) && a.payload.equals(payload);
}

/**
 * Checks that our bytes and mqtt-packet's bytes for a packet are the same, or at least that
 * each library decodes the other's bytes to the same packet. Returns a note when they differ.
 */
function crossCheck(name: string, ours: Buffer, theirs: Buffer, version: Version, expected: Packet): string | undefined {
  if (ours.equals(theirs)) return undefined;
  const parsedByThem = mqttParseAll(ours, version);
  const parsedByUs = oursParseOne(theirs, version, expected.type);
  if (parsedByThem.length !== 1) throw new Error(`${name}: mqtt-packet read ${parsedByThem.length} packets from our bytes`);
  if (expected.type === PacketType.PUBLISH) {
    const t = parsedByThem[0];
    if (t.cmd !== 'publish' || !samePublish(expected, t)) throw new Error(`${name}: mqtt-packet decodes our bytes differently`);
    if (parsedByUs.type !== PacketType.PUBLISH || !samePublish(parsedByUs, toMqttPublish(expected))) {
      throw new Error(`${name}: we decode mqtt-packet's bytes differently`);
    }
  }
  return `${name}: encodings differ (${ours.length} vs ${theirs.length} bytes; ` +
    'property order or optional fields), each decodes the other\'s';
}

// --- decode ----------------------------------------------------------------------------------

interface Stream {
  chunks: Buffer[];
  packets: number;
  bytes: number;
}

/** Packets back to back up to about STREAM_BYTES, cut into 64 KiB chunks; packet ids 1, 2, ... */
function buildStream(size: number, qos: QoS, version: Version, properties?: PublishProperties): Stream {
  const template = publishPacket(size, qos, 1, properties);
  const parts: Buffer[] = [];
  let bytes = 0;
  let id = 0;
  while (bytes < STREAM_BYTES) {
    id = id === 65535 ? 1 : id + 1;
    template.packetId = qos > 0 ? id : 0;
    const b = encode(template, version);
    parts.push(b);
    bytes += b.length;
  }
  const all = Buffer.concat(parts, bytes);
  const chunks: Buffer[] = [];
  for (let off = 0; off < all.length; off += CHUNK) chunks.push(all.subarray(off, Math.min(off + CHUNK, all.length)));
  return { chunks, packets: parts.length, bytes };
}

function oursDecodeStream(s: Stream, version: Version): Workload {
  // A server-side decoder, as in the broker: it reads the client's CONNECT first.
  const d = new Decoder();
  d.push(encode(connectPacket(version, 0), version));
  if (d.next()?.type !== PacketType.CONNECT) throw new Error('decoder did not accept the CONNECT');
  return {
    opsPerStep: s.packets,
    bytesPerStep: s.bytes,
    step(): number {
      let n = 0;
      let acc = 0;
      for (const chunk of s.chunks) {
        d.push(chunk);
        for (let p = d.next(); p !== undefined; p = d.next()) {
          n++;
          if (p.type === PacketType.PUBLISH) acc += p.payload.length + p.topic.length + p.packetId;
        }
      }
      if (n !== s.packets) throw new Error(`ours decoded ${n} packets, expected ${s.packets}`);
      return acc;
    },
  };
}

function theirsDecodeStream(s: Stream, version: Version): Workload {
  const ps = parser({ protocolVersion: version });
  let n = 0;
  let acc = 0;
  let failure: unknown;
  ps.on('packet', (p) => {
    n++;
    if (p.cmd === 'publish') acc += p.payload.length + p.topic.length + (p.messageId ?? 0);
  });
  ps.on('error', (e: unknown) => { failure = e; });
  return {
    opsPerStep: s.packets,
    bytesPerStep: s.bytes,
    step(): number {
      n = 0;
      acc = 0;
      for (const chunk of s.chunks) ps.parse(chunk);
      if (failure !== undefined) throw new Error(`mqtt-packet: ${String(failure)}`);
      if (n !== s.packets) throw new Error(`mqtt-packet decoded ${n} packets, expected ${s.packets}`);
      return acc;
    },
  };
}

function connectBuffers(version: Version): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < CONNECTS; i++) out.push(encode(connectPacket(version, i), version));
  return out;
}

const total = (bufs: Buffer[]): number => bufs.reduce((s, b) => s + b.length, 0);

function oursDecodeConnects(bufs: Buffer[]): Workload {
  return {
    opsPerStep: bufs.length,
    bytesPerStep: total(bufs),
    step(): number {
      let acc = 0;
      for (const b of bufs) {
        const d = new Decoder();
        d.push(b);
        const p = d.next();
        if (p?.type !== PacketType.CONNECT) throw new Error('not a CONNECT');
        acc += p.clientId.length + p.keepAlive;
      }
      return acc;
    },
  };
}

function theirsDecodeConnects(bufs: Buffer[], version: Version): Workload {
  let acc = 0;
  let n = 0;
  const onPacket = (p: MqttPacket): void => {
    n++;
    if (p.cmd === 'connect') acc += p.clientId.length + (p.keepalive ?? 0);
  };
  return {
    opsPerStep: bufs.length,
    bytesPerStep: total(bufs),
    step(): number {
      acc = 0;
      n = 0;
      for (const b of bufs) {
        const ps = parser({ protocolVersion: version });
        ps.on('packet', onPacket);
        ps.parse(b);
      }
      if (n !== bufs.length) throw new Error(`mqtt-packet decoded ${n} CONNECTs, expected ${bufs.length}`);
      return acc;
    },
  };
}

// --- encode ----------------------------------------------------------------------------------

function oursEncode(p: Packet, version: Version): Workload {
  const size = encode(p, version).length;
  return {
    opsPerStep: ENCODE_BATCH,
    bytesPerStep: ENCODE_BATCH * size,
    step(): number {
      let acc = 0;
      for (let i = 0; i < ENCODE_BATCH; i++) {
        const b = encode(p, version);
        acc += b.length + b[b.length - 1];
      }
      return acc;
    },
  };
}

function theirsEncode(p: MqttPacket, version: Version): Workload {
  const opts = { protocolVersion: version };
  const size = generate(p, opts).length;
  return {
    opsPerStep: ENCODE_BATCH,
    bytesPerStep: ENCODE_BATCH * size,
    step(): number {
      let acc = 0;
      for (let i = 0; i < ENCODE_BATCH; i++) {
        const b = generate(p, opts);
        acc += b.length + b[b.length - 1];
      }
      return acc;
    },
  };
}

// --- fan-out ---------------------------------------------------------------------------------

function oursFanOut(msg: PublishContent, version: Version): Workload {
  let id = 0;
  const size = preparePublish(msg, version).size;
  return {
    opsPerStep: SUBSCRIBERS,
    bytesPerStep: SUBSCRIBERS * size,
    step(): number {
      const prepared = preparePublish(msg, version);
      const tail = prepared.tail;
      let acc = 0;
      for (let s = 0; s < SUBSCRIBERS; s++) {
        id = id === 65535 ? 1 : id + 1;
        const head = publishHead(prepared, id, false);
        // The subscriber's socket gets head, then tail when there is one.
        acc += head.length + head[head.length - 1] + (tail === undefined ? 0 : tail.length);
      }
      return acc;
    },
  };
}

function theirsFanOut(msg: PublishContent, version: Version): Workload {
  let id = 0;
  const opts = { protocolVersion: version };
  const size = generate(toMqttPublish(publishPacket(msg.payload.length, msg.qos, 1)), opts).length;
  return {
    opsPerStep: SUBSCRIBERS,
    bytesPerStep: SUBSCRIBERS * size,
    step(): number {
      let acc = 0;
      for (let s = 0; s < SUBSCRIBERS; s++) {
        id = id === 65535 ? 1 : id + 1;
        // A fresh packet per subscriber, carrying its own message id, as Aedes builds it.
        const packet: IPublishPacket = {
          cmd: 'publish', topic: msg.topic, payload: msg.payload, qos: msg.qos, dup: false, retain: msg.retain,
        };
        if (msg.qos > 0) packet.messageId = id;
        const b = generate(packet, opts);
        acc += b.length + b[b.length - 1];
      }
      return acc;
    },
  };
}

// --- the cases -------------------------------------------------------------------------------

interface PublishVariant {
  size: number;
  qos: QoS;
  version: Version;
  properties?: PublishProperties;
}

function publishVariants(): PublishVariant[] {
  const out: PublishVariant[] = [];
  for (const size of [SMALL, LARGE]) {
    for (const version of [4, 5] as const) {
      for (const qos of [0, 1] as const) out.push({ size, qos, version });
    }
  }
  out.push({ size: SMALL, qos: 1, version: 5, properties: PUBLISH_PROPS });
  return out;
}

const publishName = (v: PublishVariant): string =>
  `PUBLISH ${sizeName(v.size)} QoS${v.qos} ${versionName(v.version)}${v.properties ? ' +4 props' : ''}`;

const connectName = (version: Version): string =>
  `CONNECT ${versionName(version)}${version === 5 ? ' +4 props' : ''}, new decoder per conn`;

function buildCases(notes: string[]): PairCase[] {
  const cases: PairCase[] = [];
  const versions = [4, 5] as const;
  let checked = 0;
  let identical = 0;
  const check = (name: string, ours: Buffer, theirs: Buffer, version: Version, expected: Packet): void => {
    checked++;
    const note = crossCheck(name, ours, theirs, version, expected);
    if (note === undefined) identical++;
    else notes.push(note);
  };

  for (const version of versions) {
    cases.push({
      section: 'decode',
      name: connectName(version),
      unit: 'packets',
      ours: () => oursDecodeConnects(connectBuffers(version)),
      theirs: () => theirsDecodeConnects(connectBuffers(version), version),
    });
  }
  for (const v of publishVariants()) {
    let stream: Stream | undefined;
    const get = (): Stream => (stream ??= buildStream(v.size, v.qos, v.version, v.properties));
    cases.push({
      section: 'decode',
      name: publishName(v),
      unit: 'packets',
      ours: () => oursDecodeStream(get(), v.version),
      theirs: () => {
        const w = theirsDecodeStream(get(), v.version);
        stream = undefined; // both sides hold it now; let it go after the case
        return w;
      },
    });
  }

  for (const version of versions) {
    const p = connectPacket(version, 42);
    const name = connectName(version).replace(', new decoder per conn', '');
    cases.push({
      section: 'encode',
      name,
      unit: 'packets',
      ours: () => oursEncode(p, version),
      theirs: () => theirsEncode(toMqttConnect(p), version),
    });
    check(`encode ${name}`, encode(p, version), generate(toMqttConnect(p), { protocolVersion: version }), version, p);
  }
  for (const v of publishVariants()) {
    const p = publishPacket(v.size, v.qos, 4242, v.properties);
    const name = publishName(v);
    cases.push({
      section: 'encode',
      name,
      unit: 'packets',
      ours: () => oursEncode(p, v.version),
      theirs: () => theirsEncode(toMqttPublish(p), v.version),
    });
    check(`encode ${name}`, encode(p, v.version), generate(toMqttPublish(p), { protocolVersion: v.version }), v.version, p);
  }
  notes.push(`encode: our bytes are identical to mqtt-packet's for ${identical} of ${checked} packets` +
    (identical < checked ? '; the others differ in form only (checked by decoding each with the other library)' : ''));

  for (const size of [SMALL, LARGE]) {
    for (const qos of [0, 1] as const) {
      const version = 4;
      const msg: PublishContent = { topic: TOPIC, payload: payloadOf(size), qos, retain: false };
      cases.push({
        section: `fan-out to ${SUBSCRIBERS} subscribers`,
        name: `PUBLISH ${sizeName(size)} QoS${qos} ${versionName(version)}`,
        unit: 'deliveries',
        ours: () => oursFanOut(msg, version),
        theirs: () => theirsFanOut(msg, version),
      });
    }
  }
  return cases;
}

export const codecGroup: BenchGroup = {
  name: 'codec',
  description: 'MQTT codec: decode, encode and PUBLISH fan-out, ours against mqtt-packet',
  run(options: GroupOptions): Promise<GroupReport> {
    const notes: string[] = [];
    const cases = buildCases(notes);
    const results = runCases(cases, options);
    notes.push(
      `decode: ${STREAM_BYTES / 2 ** 20} MiB streams in ${CHUNK / 1024} KiB chunks to one server-side Decoder ` +
        '(after a CONNECT) / one mqtt-packet parser; CONNECT: a fresh Decoder / parser per connection.',
      `fan-out: ours = preparePublish once per message + publishHead per subscriber (payloads over ` +
        '2 KiB stay a shared tail, not copied); mqtt-packet = generate() of a fresh packet per subscriber. ' +
        'MB/s counts wire bytes delivered.',
      `ops/s and MB/s: medians of ${options.timing.repetitions} interleaved runs per side; ± is (max - min) / median ` +
        'of those runs; ours/theirs is the median of the per-repetition ratios (runs back to back).',
    );
    return Promise.resolve({ group: 'codec', oursLabel: 'petrel', theirsLabel: 'mqtt-packet', results, notes });
  },
};
