// `petrel pub`: publishes to an MQTT broker as mosquitto_pub does (same flags), and exits only
// once every message is acknowledged as its QoS asks, so a 0 exit status means "delivered".

import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { IClientPublishOptions } from 'mqtt';
import {
  CONNECTION_HELP, CONNECTION_OPTIONS, checkTopicName, connected, connectionFrom, connectionLost, createClient,
  endClient, extractProperties, integer, planOrExit, processIo, qosOf, reasonText, UsageError,
  type CliIo, type Connection, type ConnectionValues,
} from './client-options.js';

const OPTIONS = {
  ...CONNECTION_OPTIONS,
  topic: { type: 'string', short: 't' },
  message: { type: 'string', short: 'm' },
  file: { type: 'string', short: 'f' },
  'stdin-file': { type: 'boolean', short: 's' },
  'stdin-line': { type: 'boolean', short: 'l' },
  'null-message': { type: 'boolean', short: 'n' },
  retain: { type: 'boolean', short: 'r' },
  repeat: { type: 'string' },
  'repeat-delay': { type: 'string' },
} as const;

const HELP = `Usage: petrel pub [options] -t TOPIC {-m MESSAGE | -f FILE | -s | -l | -n}

Publishes to an MQTT broker (flags as mosquitto_pub's) and exits once every message is
acknowledged as its QoS asks: PUBACK for QoS 1, PUBCOMP for QoS 2, written for QoS 0.

Message:
  -t, --topic TOPIC         the topic (or the path of an mqtt:// -L URL)
  -m, --message TEXT        this text
  -f, --file FILE           the content of FILE, byte for byte
  -s, --stdin-file          all of standard input, as one message
  -l, --stdin-line          one message per line of standard input, sent as each line is read;
                            the line end is removed, an empty line is an empty message
  -n, --null-message        an empty message (retained, it clears the topic's retained message)
  -q, --qos 0|1|2           quality of service (default 0)
  -r, --retain              retain the message
  --repeat N                publish the message N times (not with -l)
  --repeat-delay SECONDS    wait this long after each delivery before the next (0.5 allowed)

${CONNECTION_HELP}
Exit status: 0 every message delivered; 1 failed (connection refused or lost, publish rejected
by the broker: the reason is printed); 2 bad usage.
`;

type Source = { kind: 'payload'; payload: Buffer } | { kind: 'file'; path: string } | { kind: 'stdin' } | { kind: 'lines' };

interface Plan {
  conn: Connection;
  topic: string;
  publish: IClientPublishOptions;
  source: Source;
  repeat: number;
  delayMs: number;
}

/** Runs `petrel pub` with the arguments after `pub`; resolves to the exit status. */
export async function runPub(args: string[], io: CliIo = processIo()): Promise<number> {
  const say = (message: string): void => { io.stderr.write(`petrel pub: ${message}\n`); };
  const plan = planOrExit('pub', args, parse, HELP, io);
  if (typeof plan === 'number') return plan;
  // --quiet silences what goes wrong at run time, not the usage errors above (as mosquitto_pub).
  const quiet = plan.conn.quiet;
  const fail = (message: string): number => {
    if (!quiet) say(message);
    return 1;
  };

  // Read what is to be sent before connecting: a mistyped file name fails without a connection.
  let payload: Buffer | undefined;
  try {
    if (plan.source.kind === 'payload') payload = plan.source.payload;
    if (plan.source.kind === 'file') payload = await readFile(plan.source.path);
    if (plan.source.kind === 'stdin') payload = await readAll(io.stdin);
  } catch (err) {
    return fail(plan.source.kind === 'file' ? `cannot read -f ${plan.source.path}: ${(err as Error).message}` : `cannot read standard input: ${(err as Error).message}`);
  }

  const client = createClient(plan.conn, io);
  try {
    await connected(client, plan.conn);
  } catch (err) {
    return fail((err as Error).message);
  }
  const lost = connectionLost(client, plan.conn);
  const { topic, publish, conn } = plan;
  const send = async (message: Buffer): Promise<void> => {
    try {
      await Promise.race([client.publishAsync(topic, message, publish), lost]);
    } catch (err) {
      if (typeof (err as { code?: unknown }).code === 'number') throw new Error(`publish to '${topic}' rejected: ${reasonText(err, conn.version)}`);
      throw err;
    }
  };
  try {
    if (payload === undefined) {
      // Each line goes as soon as it is read, so `tail -f log | petrel pub -l` streams.
      for await (const line of createInterface({ input: io.stdin, crlfDelay: Infinity })) await send(Buffer.from(line));
    } else {
      for (let i = 0; i < plan.repeat; i++) {
        if (i > 0 && plan.delayMs > 0) await Promise.race([sleep(plan.delayMs), lost]);
        await send(payload);
      }
    }
  } catch (err) {
    await endClient(client);
    return fail((err as Error).message);
  }
  await endClient(client);
  return 0;
}

function parse(args: string[]): Plan | 'help' {
  const { rest, props } = extractProperties(args, OPTIONS, ['connect', 'publish', 'will']);
  const { values: v, positionals } = parseArgs({ args: rest, options: OPTIONS, allowPositionals: true, strict: true });
  if (v.help) return 'help';
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  const conn = connectionFrom(v as ConnectionValues, props, 'pub');

  const topic = v.topic ?? conn.urlTopic;
  if (topic === undefined) throw new UsageError('a topic is needed (-t TOPIC)');
  checkTopicName(topic, '-t');

  const given: Source[] = [];
  if (v.message !== undefined) given.push({ kind: 'payload', payload: Buffer.from(v.message) });
  if (v['null-message']) given.push({ kind: 'payload', payload: Buffer.alloc(0) });
  if (v.file !== undefined) given.push({ kind: 'file', path: v.file });
  if (v['stdin-file']) given.push({ kind: 'stdin' });
  if (v['stdin-line']) given.push({ kind: 'lines' });
  if (given.length !== 1) throw new UsageError(given.length === 0 ? 'a message is needed: -m, -f, -s, -l or -n' : 'only one of -m, -f, -s, -l and -n');
  const source = given[0];

  const repeat = v.repeat === undefined ? 1 : integer(v.repeat, '--repeat', 1, Number.MAX_SAFE_INTEGER);
  const delay = v['repeat-delay'];
  if (delay !== undefined && !/^\d+(\.\d+)?$/.test(delay)) throw new UsageError(`--repeat-delay: expected seconds (such as 1 or 0.5), got '${delay}'`);
  if (source.kind === 'lines' && (v.repeat !== undefined || delay !== undefined)) throw new UsageError('--repeat and --repeat-delay are for a single message, not -l');

  const publish: IClientPublishOptions = { qos: qosOf(v.qos, '-q'), retain: v.retain === true };
  if (props.publish !== undefined) publish.properties = props.publish;
  return { conn, topic, publish, source, repeat, delayMs: delay === undefined ? 0 : Number(delay) * 1000 };
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}
