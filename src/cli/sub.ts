// `petrel sub`: subscribes and prints what arrives, as mosquitto_sub does (same flags, same exit
// status 27 when -W runs out), for testing a broker by hand or from a shell script.

import { parseArgs } from 'node:util';
import type { IClientSubscribeOptions, IPublishPacket, ISubscriptionMap } from 'mqtt';
import {
  CONNECTION_HELP, CONNECTION_OPTIONS, connected, connectionFrom, connectionLost, createClient, endClient,
  extractProperties, integer, planOrExit, processIo, qosOf, reasonText, UsageError, type CliIo, type Connection, type ConnectionValues,
} from './client-options.js';
import { reasonName } from '../protocol/reason-codes.js';

/** mosquitto_sub's status when -W runs out (MOSQ_ERR_TIMEOUT), kept so scripts port as they are. */
export const TIMEOUT_EXIT = 27;

const OPTIONS = {
  ...CONNECTION_OPTIONS,
  topic: { type: 'string', short: 't', multiple: true },
  'filter-out': { type: 'string', short: 'T', multiple: true },
  unsubscribe: { type: 'string', short: 'U', multiple: true },
  verbose: { type: 'boolean', short: 'v' },
  count: { type: 'string', short: 'C' },
  timeout: { type: 'string', short: 'W' },
  'no-retained': { type: 'boolean', short: 'R' },
  'retained-only': { type: 'boolean' },
  'remove-retained': { type: 'boolean' },
  'no-eol': { type: 'boolean', short: 'N' },
  format: { type: 'string', short: 'F' },
  'exit-after-subscribe': { type: 'boolean', short: 'E' },
  'no-local': { type: 'boolean' },
  nl: { type: 'boolean' },
  'retain-as-published': { type: 'boolean' },
  rap: { type: 'boolean' },
  'retain-handling': { type: 'string' },
  rh: { type: 'string' },
} as const;

const HELP = `Usage: petrel sub [options] -t FILTER [-t FILTER ...]

Subscribes on an MQTT broker (flags as mosquitto_sub's) and prints each message received on a
line of its own: its payload, or its topic and payload with -v.

Subscription and output:
  -t, --topic FILTER        a topic filter to subscribe to; repeatable
  -q, --qos 0|1|2           the subscriptions' maximum QoS (default 0)
  -v, --verbose             print "topic payload" (an empty payload shows as "(null)")
  -N, --no-eol              no line end after each message
  -F, --format FORMAT       print FORMAT instead: %t topic, %p payload, %x/%X payload in hex,
                            %l length, %q QoS, %r retain, %m packet id, %I ISO time, %U Unix time,
                            MQTT 5: %C content type, %E expiry, %F format indicator, %R response
                            topic, %D correlation data, %P user properties, %S subscription id;
                            %% is %, and \\n \\t \\r \\\\ \\0 \\e \\a \\v are escapes
  -C, --count N             exit after printing N messages
  -W, --timeout SECONDS     exit after SECONDS, with status ${TIMEOUT_EXIT} (0.5 allowed)
  -R, --no-retained         do not print retained (stale) messages; with MQTT 5 the broker is
                            asked not to send them (retain handling 2)
  --retained-only           print only retained messages; exit 0 at the first fresh one
  --remove-retained         clear each retained message received (publish an empty retained one)
  -T, --filter-out FILTER   do not print messages on topics matching FILTER; repeatable
  -U, --unsubscribe FILTER  unsubscribe from FILTER (for a kept session, -c); repeatable
  -E, --exit-after-subscribe   exit once the subscriptions are acknowledged (sets up a -c session)
MQTT 5 subscription options:
  --nl, --no-local               do not receive this client's own messages
  --rap, --retain-as-published   keep the retain flag as the publisher set it
  --rh, --retain-handling 0|1|2  retained messages at subscribe: 0 or always, 1 or new (only on a
                                 new subscription), 2 or never

${CONNECTION_HELP}
SIGINT or SIGTERM disconnects and exits 0.
Exit status: 0 done (-C reached, -E, --retained-only, a signal); ${TIMEOUT_EXIT} -W ran out;
1 failed (connection refused or lost, every subscription refused); 2 bad usage.
`;

interface Message { topic: string; payload: Buffer; packet: IPublishPacket }
type Render = (m: Message) => Buffer;

interface Plan {
  conn: Connection;
  subscriptions: ISubscriptionMap;
  subscribeProps?: Record<string, unknown>;
  unsubscribe: string[];
  filterOut: string[];
  render: Render;
  count?: number;
  timeoutMs?: number;
  noRetained: boolean;
  retainedOnly: boolean;
  removeRetained: boolean;
  exitAfterSubscribe: boolean;
}

/** Runs `petrel sub` with the arguments after `sub`; resolves to the exit status when it stops. */
export async function runSub(args: string[], io: CliIo = processIo()): Promise<number> {
  const say = (message: string): void => { io.stderr.write(`petrel sub: ${message}\n`); };
  const plan = planOrExit('sub', args, parse, HELP, io);
  if (typeof plan === 'number') return plan;
  const p = plan;
  const report = (message: string | undefined): void => { if (message !== undefined && !p.conn.quiet) say(message); };

  let stopped = false;
  let settle!: (outcome: { code: number; message?: string }) => void;
  const finished = new Promise<{ code: number; message?: string }>((resolve) => { settle = resolve; });
  const finish = (code: number, message?: string): void => {
    if (stopped) return;
    stopped = true;
    settle({ code, message });
  };

  // Once stopped, QoS 1 and 2 messages still arriving are left unacknowledged, so that a kept
  // session (-c) gets them again next time instead of losing them here.
  p.conn.options.customHandleAcks = (_topic, _payload, _packet, done) => { if (!stopped) done(0); };
  const client = createClient(p.conn, io);
  let printed = 0;
  client.on('message', (topic, payload, packet) => {
    if (stopped) return;
    if (p.retainedOnly && !packet.retain) return finish(0);
    if (p.removeRetained && packet.retain && payload.length > 0) client.publish(topic, Buffer.alloc(0), { qos: 1, retain: true });
    if (p.noRetained && packet.retain) return;
    if (p.filterOut.some((f) => topicMatches(f, topic))) return;
    io.stdout.write(p.render({ topic, payload, packet }));
    printed++;
    if (p.count !== undefined && printed >= p.count) finish(0);
  });

  try {
    await connected(client, p.conn);
  } catch (err) {
    report((err as Error).message);
    return 1;
  }
  connectionLost(client, p.conn).catch((err: Error) => finish(1, err.message));

  const timer = p.timeoutMs === undefined ? undefined : setTimeout(() => finish(TIMEOUT_EXIT, 'timed out'), p.timeoutMs);
  const interrupted = (): void => finish(0);
  if (io.signal !== undefined) {
    if (io.signal.aborted) finish(0);
    io.signal.addEventListener('abort', interrupted, { once: true });
  } else {
    process.once('SIGINT', interrupted);
    process.once('SIGTERM', interrupted);
  }
  // A closed pipe (`petrel sub ... | head -1`) means the reader has had enough.
  const outputFailed = (err: NodeJS.ErrnoException): void => finish(err.code === 'EPIPE' ? 0 : 1, err.code === 'EPIPE' ? undefined : `cannot write: ${err.message}`);
  io.stdout.on('error', outputFailed);

  subscribe(client, p, report).then((ok) => {
    if (!ok) finish(1);
    else if (p.exitAfterSubscribe) finish(0);
  }, (err: Error) => finish(1, err.message));

  const outcome = await finished;
  clearTimeout(timer);
  io.signal?.removeEventListener('abort', interrupted);
  process.off('SIGINT', interrupted);
  process.off('SIGTERM', interrupted);
  await endClient(client);
  io.stdout.off('error', outputFailed);
  report(outcome.message);
  return outcome.code;
}

/** Subscribes and unsubscribes; false when every subscription was refused (each refusal is reported). */
async function subscribe(client: ReturnType<typeof createClient>, p: Plan, report: (m: string) => void): Promise<boolean> {
  const filters = Object.keys(p.subscriptions);
  if (filters.length > 0) {
    let codes: number[];
    try {
      const granted = await client.subscribeAsync(p.subscriptions, p.subscribeProps === undefined ? undefined : { properties: p.subscribeProps });
      codes = granted.map((g) => g.qos);
    } catch (err) {
      // MQTT.js fails the whole SUBSCRIBE if one filter is refused; the SUBACK tells which.
      const granted = (err as { packet?: { granted?: number[] } }).packet?.granted;
      if (granted === undefined) throw err;
      codes = granted;
    }
    let refused = 0;
    codes.forEach((code, i) => {
      if (code < 0x80) return;
      refused++;
      const reason = p.conn.version === 5 ? reasonText({ message: reasonName(code), code }, 5) : 'Failure (0x80)';
      report(`subscription to '${filters[i]}' refused: ${reason}`);
    });
    if (refused === filters.length) return false;
  }
  if (p.unsubscribe.length > 0) await client.unsubscribeAsync(p.unsubscribe);
  return true;
}

function parse(args: string[]): Plan | 'help' {
  const { rest, props } = extractProperties(args, OPTIONS, ['connect', 'subscribe', 'will']);
  const { values: v, positionals } = parseArgs({ args: rest, options: OPTIONS, allowPositionals: true, strict: true });
  if (v.help) return 'help';
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  const conn = connectionFrom(v as ConnectionValues, props, 'sub');

  const filters = [...(v.topic ?? []), ...(conn.urlTopic === undefined ? [] : [conn.urlTopic])];
  const unsubscribe = v.unsubscribe ?? [];
  const filterOut = v['filter-out'] ?? [];
  if (filters.length === 0 && unsubscribe.length === 0) throw new UsageError('a topic filter is needed (-t FILTER)');
  for (const f of [...filters, ...unsubscribe, ...filterOut]) checkFilter(f);
  if (v['no-retained'] && v['retained-only']) throw new UsageError('-R and --retained-only exclude each other');

  const v5Only = ['no-local', 'nl', 'retain-as-published', 'rap', 'retain-handling', 'rh'] as const;
  const used = v5Only.find((name) => v[name] !== undefined);
  if (conn.version !== 5 && used !== undefined) throw new UsageError(`--${used} needs MQTT 5 (-V mqttv5)`);
  const rhText = v['retain-handling'] ?? v.rh;
  const rh = rhText === undefined ? (v['no-retained'] ? 2 : 0) : ({ always: 0, new: 1, never: 2 } as Record<string, number>)[rhText] ?? integer(rhText, '--retain-handling', 0, 2);
  const options: IClientSubscribeOptions = { qos: qosOf(v.qos, '-q') };
  if (conn.version === 5) Object.assign(options, { nl: v['no-local'] === true || v.nl === true, rap: v['retain-as-published'] === true || v.rap === true, rh });
  const subscriptions: ISubscriptionMap = {};
  for (const f of filters) subscriptions[f] = { ...options };

  const count = v.count === undefined ? undefined : integer(v.count, '-C', 1, Number.MAX_SAFE_INTEGER);
  const timeout = v.timeout;
  if (timeout !== undefined && (!/^\d+(\.\d+)?$/.test(timeout) || Number(timeout) <= 0)) throw new UsageError(`-W: expected seconds above 0 (such as 5 or 0.5), got '${timeout}'`);
  const eol = v['no-eol'] ? Buffer.alloc(0) : Buffer.from('\n');
  return {
    conn, subscriptions, subscribeProps: props.subscribe, unsubscribe, filterOut,
    render: v.format !== undefined ? formatter(v.format, eol) : plainRender(v.verbose === true, eol),
    count, timeoutMs: timeout === undefined ? undefined : Number(timeout) * 1000,
    noRetained: v['no-retained'] === true, retainedOnly: v['retained-only'] === true,
    removeRetained: v['remove-retained'] === true, exitAfterSubscribe: v['exit-after-subscribe'] === true,
  };
}

function plainRender(verbose: boolean, eol: Buffer): Render {
  if (!verbose) return (m) => Buffer.concat([m.payload, eol]);
  return (m) => Buffer.concat([Buffer.from(`${m.topic} `), m.payload.length > 0 ? m.payload : Buffer.from('(null)'), eol]);
}

const FIELDS: Record<string, (m: Message) => string | Buffer> = {
  '%': () => '%',
  t: (m) => m.topic,
  p: (m) => m.payload,
  x: (m) => m.payload.toString('hex'),
  X: (m) => m.payload.toString('hex').toUpperCase(),
  l: (m) => String(m.payload.length),
  q: (m) => String(m.packet.qos),
  r: (m) => (m.packet.retain ? '1' : '0'),
  m: (m) => String(m.packet.messageId ?? 0),
  I: () => new Date().toISOString(),
  U: () => (Date.now() / 1000).toFixed(3),
  C: (m) => m.packet.properties?.contentType ?? '',
  E: (m) => String(m.packet.properties?.messageExpiryInterval ?? ''),
  F: (m) => String(m.packet.properties?.payloadFormatIndicator === undefined ? '' : Number(m.packet.properties.payloadFormatIndicator)),
  R: (m) => m.packet.properties?.responseTopic ?? '',
  D: (m) => m.packet.properties?.correlationData ?? '',
  S: (m) => String(m.packet.properties?.subscriptionIdentifier ?? ''),
  P: (m) => Object.entries(m.packet.properties?.userProperties ?? {})
    .flatMap(([k, vs]) => (Array.isArray(vs) ? vs : [vs]).map((val) => `${k}:${val}`)).join(' '),
};
const ESCAPES: Record<string, string> = { '\\': '\\', 0: '\0', a: '\x07', e: '\x1b', n: '\n', r: '\r', t: '\t', v: '\v' };

/** Compiles -F once, so a bad format is a usage error before connecting. */
function formatter(format: string, eol: Buffer): Render {
  const parts: (string | ((m: Message) => string | Buffer))[] = [];
  for (let i = 0; i < format.length; i++) {
    const c = format[i];
    if (c !== '%' && c !== '\\') {
      parts.push(c);
      continue;
    }
    const next = format[++i];
    const part = c === '%' ? FIELDS[next] : ESCAPES[next];
    if (next === undefined || part === undefined) throw new UsageError(`-F: unknown ${c}${next ?? ''} in '${format}'`);
    parts.push(part);
  }
  return (m) => Buffer.concat([...parts.map((part) => {
    const out = typeof part === 'string' ? part : part(m);
    return typeof out === 'string' ? Buffer.from(out) : out;
  }), eol]);
}

function checkFilter(filter: string): void {
  const levels = filter.split('/');
  const bad = filter === '' || levels.some((l, i) => (l.includes('#') && (l !== '#' || i !== levels.length - 1)) || (l.includes('+') && l !== '+'));
  if (bad) throw new UsageError(`'${filter}' is not a topic filter (+ and # stand for whole levels, # only last)`);
}

/** Whether a topic matches a filter; as the spec says, wildcards first do not match $ topics. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length || (f[i] !== '+' && f[i] !== t[i])) return false;
  }
  return f.length === t.length;
}
