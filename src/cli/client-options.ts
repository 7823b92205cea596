// What `petrel pub` and `petrel sub` share: the connection flags (named as mosquitto_pub and
// mosquitto_sub name them, so muscle memory carries over), mosquitto's `-D command property value`
// form for MQTT 5 properties, and connecting MQTT.js with a refusal reported in plain words.

import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient, type Packet } from 'mqtt';
import { hexCode, reasonName } from '../protocol/reason-codes.js';

export interface CliIo {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Ends a running `sub` as SIGINT does; without it, SIGINT and SIGTERM of the process are used. */
  signal?: AbortSignal;
}

export const processIo = (): CliIo => ({ stdin: process.stdin, stdout: process.stdout, stderr: process.stderr });

/** Bad command line: exit status 2. */
export class UsageError extends Error {}

/**
 * Parses a subcommand's arguments: the plan, or the exit status when there is nothing to run
 * (0 after --help, 2 for a usage error, 1 for any other problem), with the message written.
 */
export function planOrExit<P>(command: 'pub' | 'sub', args: string[], parse: (args: string[]) => P | 'help', help: string, io: CliIo): P | number {
  const say = (message: string): void => { io.stderr.write(`petrel ${command}: ${message}\n`); };
  let plan: P | 'help';
  try {
    plan = parse(args);
  } catch (err) {
    if (!(err instanceof UsageError) && !(err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      say((err as Error).message);
      return 1;
    }
    say(`${(err as Error).message}\nRun 'petrel ${command} --help' for the options.`);
    return 2;
  }
  if (plan === 'help') {
    io.stdout.write(help);
    return 0;
  }
  return plan;
}

/** The connection flags; `-h` is the host, as in mosquitto, so help is `--help` only. */
export const CONNECTION_OPTIONS = {
  host: { type: 'string', short: 'h' },
  port: { type: 'string', short: 'p' },
  url: { type: 'string', short: 'L' },
  id: { type: 'string', short: 'i' },
  username: { type: 'string', short: 'u' },
  pw: { type: 'string', short: 'P' },
  'protocol-version': { type: 'string', short: 'V' },
  qos: { type: 'string', short: 'q' },
  keepalive: { type: 'string', short: 'k' },
  cafile: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  insecure: { type: 'boolean' },
  'disable-clean-session': { type: 'boolean', short: 'c' },
  'session-expiry': { type: 'string', short: 'x' },
  'will-topic': { type: 'string' },
  'will-payload': { type: 'string' },
  'will-qos': { type: 'string' },
  'will-retain': { type: 'boolean' },
  debug: { type: 'boolean', short: 'd' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean' },
} as const;

export const CONNECTION_HELP = `Connection:
  -h, --host HOST          broker host (default localhost)
  -p, --port PORT          broker port (default 1883, 8883 with TLS)
  -L, --url URL            instead of -h and -p: mqtt://, mqtts://, ws:// or wss://
                           [user[:pass]@]host[:port][/path]; for mqtt(s) the path is the topic
                           (as mosquitto reads it), for ws(s) the WebSocket path (default /mqtt)
  -i, --id ID              client id (default petrel-pub-/petrel-sub- and random hex)
  -u, --username NAME      -P, --pw PASSWORD
  -V, --protocol-version   mqttv5 (default), mqttv311 or mqttv31 (also 5, 311 or 4, 31 or 3)
  -k, --keepalive SECONDS  keep alive (default 60)
  -c, --disable-clean-session   keep the session (needs -i); for MQTT 5 it never expires unless -x
  -x, --session-expiry SECONDS  MQTT 5 session expiry interval (-1 or ∞: never)
  --will-topic T --will-payload P --will-qos Q --will-retain   the client's will
TLS (any of these means TLS):
  --cafile FILE  CA certificates to trust     --cert FILE --key FILE  client certificate
  --insecure     do not verify the server's certificate
MQTT 5 properties (mosquitto's form; repeatable):
  -D, --property COMMAND NAME VALUE   or   -D COMMAND user-property KEY VALUE
    connect: session-expiry-interval receive-maximum maximum-packet-size topic-alias-maximum
             request-response-information request-problem-information user-property
    publish, will: payload-format-indicator message-expiry-interval content-type response-topic
             correlation-data user-property (will also: will-delay-interval)
    subscribe: subscription-identifier user-property
Other:
  -d, --debug   print every packet sent and received on stderr
  --quiet       print no errors (the exit status still tells)
  --help        show this help
`;

type PropKind = 'u16' | 'u32' | 'varint' | 'bool' | 'string' | 'binary' | 'pair';
const PROPERTIES: Record<string, [key: string, kind: PropKind]> = {
  'session-expiry-interval': ['sessionExpiryInterval', 'u32'],
  'receive-maximum': ['receiveMaximum', 'u16'],
  'maximum-packet-size': ['maximumPacketSize', 'u32'],
  'topic-alias-maximum': ['topicAliasMaximum', 'u16'],
  'request-response-information': ['requestResponseInformation', 'bool'],
  'request-problem-information': ['requestProblemInformation', 'bool'],
  'payload-format-indicator': ['payloadFormatIndicator', 'bool'],
  'message-expiry-interval': ['messageExpiryInterval', 'u32'],
  'content-type': ['contentType', 'string'],
  'response-topic': ['responseTopic', 'string'],
  'correlation-data': ['correlationData', 'binary'],
  'subscription-identifier': ['subscriptionIdentifier', 'varint'],
  'will-delay-interval': ['willDelayInterval', 'u32'],
  'user-property': ['userProperties', 'pair'],
};
const MESSAGE_PROPS = ['payload-format-indicator', 'message-expiry-interval', 'content-type', 'response-topic', 'correlation-data', 'user-property'];
const ALLOWED: Record<string, string[]> = {
  connect: ['session-expiry-interval', 'receive-maximum', 'maximum-packet-size', 'topic-alias-maximum',
    'request-response-information', 'request-problem-information', 'user-property'],
  publish: MESSAGE_PROPS,
  will: [...MESSAGE_PROPS, 'will-delay-interval'],
  subscribe: ['subscription-identifier', 'user-property'],
};

export type PropertySets = Record<string, Record<string, unknown>>;

/**
 * Takes the `-D` groups out of `args` (parseArgs cannot read an option with three or four values).
 * Values of other options are stepped over, so `-m -D` publishes "-D".
 */
export function extractProperties(args: string[], options: Record<string, { type: string; short?: string }>, commands: string[]): { rest: string[]; props: PropertySets } {
  const takesValue = new Set<string>();
  for (const [name, o] of Object.entries(options)) {
    if (o.type !== 'string') continue;
    takesValue.add(`--${name}`);
    if (o.short !== undefined) takesValue.add(`-${o.short}`);
  }
  const rest: string[] = [];
  const props: PropertySets = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--') {
      rest.push(...args.slice(i));
      break;
    }
    if (arg !== '-D' && arg !== '--property') {
      rest.push(arg);
      if (takesValue.has(arg) && i + 1 < args.length) rest.push(args[++i]);
      continue;
    }
    const command = args[i + 1]?.toLowerCase();
    const name = args[i + 2]?.toLowerCase();
    if (command === undefined || name === undefined) throw new UsageError('-D needs a command, a property name and a value');
    if (!commands.includes(command)) throw new UsageError(`-D: command '${command}' is not one of ${commands.join(', ')}`);
    if (!ALLOWED[command].includes(name)) throw new UsageError(`-D ${command}: '${name}' is not one of ${ALLOWED[command].join(', ')}`);
    const [key, kind] = PROPERTIES[name];
    const set = (props[command] ??= {});
    if (kind === 'pair') {
      if (i + 4 >= args.length) throw new UsageError(`-D ${command} user-property needs a name and a value`);
      const pairs = (set[key] ??= {}) as Record<string, string | string[]>;
      const [k, v] = [args[i + 3], args[i + 4]];
      const had = pairs[k];
      // A repeated name keeps every value: user properties are a list, not a map.
      pairs[k] = had === undefined ? v : [...(Array.isArray(had) ? had : [had]), v];
      i += 4;
      continue;
    }
    if (i + 3 >= args.length) throw new UsageError(`-D ${command} ${name} needs a value`);
    set[key] = propertyValue(name, kind, args[i + 3]);
    i += 3;
  }
  return { rest, props };
}

function propertyValue(name: string, kind: PropKind, text: string): unknown {
  if (kind === 'string') return text;
  if (kind === 'binary') return Buffer.from(text);
  if (kind === 'bool') {
    if (text === '1' || text === 'true') return true;
    if (text === '0' || text === 'false') return false;
    throw new UsageError(`-D ${name}: expected 0 or 1, got '${text}'`);
  }
  const max = kind === 'u16' ? 0xffff : kind === 'varint' ? 268_435_455 : 0xffffffff;
  return integer(text, `-D ${name}`, kind === 'varint' ? 1 : 0, max);
}

export function integer(text: string, what: string, min: number, max: number): number {
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`${what}: expected a whole number from ${min} to ${max}, got '${text}'`);
  return n;
}

export function qosOf(text: string | undefined, what: string): 0 | 1 | 2 {
  return text === undefined ? 0 : integer(text, what, 0, 2) as 0 | 1 | 2;
}

export type ConnectionValues = { [K in keyof typeof CONNECTION_OPTIONS]?: (typeof CONNECTION_OPTIONS)[K]['type'] extends 'string' ? string : boolean };

export interface Connection {
  options: IClientOptions;
  version: 3 | 4 | 5;
  /** The topic in the path of an mqtt:// or mqtts:// -L URL, as mosquitto reads it. */
  urlTopic?: string;
  /** Where to, for messages. */
  where: string;
  debug: boolean;
  quiet: boolean;
}

const VERSIONS: Record<string, 3 | 4 | 5> = { mqttv5: 5, '5': 5, mqttv311: 4, '311': 4, '4': 4, mqttv31: 3, '31': 3, '3': 3 };

/** Turns the connection flags (already parsed) and `-D` sets into MQTT.js options. */
export function connectionFrom(v: ConnectionValues, props: PropertySets, command: 'pub' | 'sub'): Connection {
  const version = VERSIONS[v['protocol-version'] ?? 'mqttv5'];
  if (version === undefined) throw new UsageError(`-V: expected mqttv5, mqttv311 or mqttv31, got '${v['protocol-version']}'`);
  if (version !== 5 && Object.keys(props).length > 0) throw new UsageError('-D properties need MQTT 5 (-V mqttv5)');
  if (version !== 5 && v['session-expiry'] !== undefined) throw new UsageError('-x needs MQTT 5 (-V mqttv5)');
  const tls = v.cafile !== undefined || v.cert !== undefined || v.key !== undefined || v.insecure === true;
  if ((v.cert === undefined) !== (v.key === undefined)) throw new UsageError('--cert and --key go together');

  const options: IClientOptions = {
    protocol: tls ? 'mqtts' : 'mqtt',
    host: v.host ?? 'localhost',
    port: v.port === undefined ? (tls ? 8883 : 1883) : integer(v.port, '-p', 1, 65535),
    protocolVersion: version,
    ...(version === 3 ? { protocolId: 'MQIsdp' as const } : {}),
    keepalive: v.keepalive === undefined ? 60 : integer(v.keepalive, '-k', 0, 65535),
    // A hand-run tool reports a lost connection instead of retrying behind the user's back.
    reconnectPeriod: 0,
    connectTimeout: 30_000,
    clientId: v.id ?? `petrel-${command}-${randomBytes(4).toString('hex')}`,
    clean: v['disable-clean-session'] !== true,
  };
  let urlTopic: string | undefined;
  if (v.url !== undefined) {
    if (v.host !== undefined || v.port !== undefined) throw new UsageError('-L gives the host and port: do not combine it with -h or -p');
    urlTopic = applyUrl(options, v.url, tls);
  }
  if (v['disable-clean-session'] && v.id === undefined) throw new UsageError('-c needs a client id (-i): a random one could not resume the session');
  if (v.username !== undefined) options.username = v.username;
  if (v.pw !== undefined) options.password = v.pw;
  // MQTT 3.1.1 has no password without a user name (MQTT 5 allows it).
  if (version !== 5 && options.password !== undefined && options.username === undefined) throw new UsageError('-P needs -u with MQTT 3.1.1 and 3.1');

  const connectProps: Record<string, unknown> = { ...props.connect };
  if (v['session-expiry'] !== undefined) {
    const x = v['session-expiry'];
    connectProps.sessionExpiryInterval = x === '-1' || x === '∞' ? 0xffffffff : integer(x, '-x', 0, 0xffffffff);
  } else if (version === 5 && v['disable-clean-session'] && connectProps.sessionExpiryInterval === undefined) {
    // In MQTT 5 a session without an expiry ends with the connection, which is not what -c asks for.
    connectProps.sessionExpiryInterval = 0xffffffff;
  }
  if (Object.keys(connectProps).length > 0) options.properties = connectProps;

  if (v['will-topic'] !== undefined) {
    checkTopicName(v['will-topic'], '--will-topic');
    options.will = {
      topic: v['will-topic'],
      payload: Buffer.from(v['will-payload'] ?? ''),
      qos: qosOf(v['will-qos'], '--will-qos'),
      retain: v['will-retain'] === true,
      ...(props.will !== undefined ? { properties: props.will } : {}),
    };
  } else if (v['will-payload'] !== undefined || v['will-qos'] !== undefined || v['will-retain'] || props.will !== undefined) {
    throw new UsageError('will options need --will-topic');
  }

  if (options.protocol === 'mqtts' || options.protocol === 'wss') {
    if (v.cafile !== undefined) options.ca = readFor('--cafile', v.cafile);
    if (v.cert !== undefined) options.cert = readFor('--cert', v.cert);
    if (v.key !== undefined) options.key = readFor('--key', v.key);
    options.rejectUnauthorized = v.insecure !== true;
  }
  const where = `${options.protocol}://${options.host}:${options.port}${options.path ?? ''}`;
  return { options, version, urlTopic, where, debug: v.debug === true, quiet: v.quiet === true };
}

function applyUrl(options: IClientOptions, text: string, tls: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`-L: '${text}' is not a URL`);
  }
  const scheme = url.protocol.slice(0, -1);
  if (scheme !== 'mqtt' && scheme !== 'mqtts' && scheme !== 'ws' && scheme !== 'wss') throw new UsageError(`-L: scheme must be mqtt, mqtts, ws or wss, not '${scheme}'`);
  // TLS flags upgrade a plain scheme rather than being ignored.
  const secure = scheme === 'mqtts' || scheme === 'wss' || tls;
  const ws = scheme === 'ws' || scheme === 'wss';
  options.protocol = ws ? (secure ? 'wss' : 'ws') : (secure ? 'mqtts' : 'mqtt');
  options.host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  options.port = url.port !== '' ? Number(url.port) : ws ? (secure ? 443 : 80) : (secure ? 8883 : 1883);
  if (url.username !== '') options.username = decodeURIComponent(url.username);
  if (url.password !== '') options.password = decodeURIComponent(url.password);
  // The path comes from the text as typed: URL parsing would take the # of `a/#` for a fragment.
  const path = /^[a-z]+:\/\/[^/]*(\/.*)?$/i.exec(text)?.[1] ?? '';
  if (ws) {
    options.path = path === '' || path === '/' ? '/mqtt' : path;
    return undefined;
  }
  return path.length > 1 ? path.slice(1) : undefined;
}

function readFor(flag: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read ${flag} ${file}: ${(err as Error).message}`);
  }
}

export function checkTopicName(topic: string, what: string): void {
  if (topic === '' || /[+#]/.test(topic)) throw new UsageError(`${what}: '${topic}' is not a topic name (empty, or has + or #)`);
}

/** MQTT.js's message for a CONNACK or ack reason code, with the code in hex as the spec lists it. */
export function reasonText(err: unknown, version: 3 | 4 | 5): string {
  const e = err as { message?: string; code?: unknown };
  const message = (e.message ?? String(err)).replace(/^(Connection refused|Publish error|Subscribe error): /, '');
  if (typeof e.code !== 'number') return message;
  return version === 5 ? `${message} (reason code ${hexCode(e.code)})` : `${message} (return code ${e.code})`;
}

/**
 * A client not yet connected: connected() connects it, so that every handler (the message one
 * above all: a resumed session's messages follow the CONNACK at once) is attached before.
 */
export function createClient(c: Connection, io: CliIo): MqttClient {
  const client = mqtt.connect({ ...c.options, manualConnect: true });
  // Errors are reported through connected() and connectionLost(); an 'error' event without a
  // listener would throw instead.
  client.on('error', () => undefined);
  if (c.debug) {
    const id = c.options.clientId;
    client.on('packetsend', (p) => io.stderr.write(`Client ${id} sending ${describe(p)}\n`));
    client.on('packetreceive', (p) => io.stderr.write(`Client ${id} received ${describe(p)}\n`));
  }
  return client;
}

/** A packet for -d, in mosquitto's style: PUBLISH (d0, q1, r0, m1, 'topic', ... (5 bytes)). */
function describe(p: Packet): string {
  const name = p.cmd.toUpperCase();
  const q = p as { messageId?: number; reasonCode?: number; returnCode?: number };
  if (p.cmd === 'publish') {
    const length = typeof p.payload === 'string' ? Buffer.byteLength(p.payload) : p.payload.length;
    return `${name} (d${Number(p.dup ?? false)}, q${p.qos}, r${Number(p.retain)}, m${p.messageId ?? 0}, '${p.topic}', ... (${length} bytes))`;
  }
  const details = [
    q.messageId === undefined ? undefined : `m${q.messageId}`,
    q.reasonCode ?? q.returnCode ? `rc${q.reasonCode ?? q.returnCode}` : undefined,
  ].filter((d) => d !== undefined);
  return details.length > 0 ? `${name} (${details.join(', ')})` : name;
}

/** Resolves at the CONNACK; rejects with a readable reason (refusal, network error, closed). */
export function connected(client: MqttClient, c: Connection): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      cleanup();
      client.end(true);
      reject(new Error(typeof (err as { code?: unknown }).code === 'number'
        ? `connection refused by ${c.where}: ${reasonText(err, c.version)}`
        : `cannot connect to ${c.where}: ${(err as Error).message}`));
    };
    // A refusal's 'error' comes before 'close'; a close first means nothing was said.
    const closed = (): void => { setImmediate(() => fail(new Error('connection closed before CONNACK'))); };
    const ok = (): void => { settled = true; cleanup(); resolve(); };
    const cleanup = (): void => {
      client.off('connect', ok);
      client.off('error', fail);
      client.off('close', closed);
    };
    client.once('connect', ok);
    client.once('error', fail);
    client.once('close', closed);
    client.connect();
  });
}

/**
 * Rejects when the connection ends other than by our own `end()`, naming the server's DISCONNECT
 * reason when it sent one. Every later await is raced against it: MQTT.js keeps unacknowledged
 * publishes pending forever once reconnecting is off.
 */
export function connectionLost(client: MqttClient, c: Connection): Promise<never> {
  const lost = new Promise<never>((_, reject) => {
    let reason = '';
    client.on('disconnect', (p) => { reason = `: the server sent DISCONNECT, ${reasonText({ message: reasonName(p.reasonCode ?? 0), code: p.reasonCode ?? 0 }, 5)}`; });
    client.on('error', (err) => { reason ||= `: ${reasonText(err, c.version)}`; });
    client.on('close', () => { if (!client.disconnecting) reject(new Error(`connection to ${c.where} lost${reason}`)); });
  });
  // Handled here so that a loss after the work is done is not an unhandled rejection.
  lost.catch(() => undefined);
  return lost;
}

/** Ends the client politely, forcing it if the server does not answer in time. */
export async function endClient(client: MqttClient): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    client.endAsync().catch(() => undefined),
    new Promise<void>((resolve) => { timer = setTimeout(() => { client.end(true); resolve(); }, 2000); }),
  ]);
  clearTimeout(timer);
}
