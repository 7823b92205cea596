// `petrel pub` and `petrel sub` against a real broker: run in-process with fake streams, and once
// as child processes of the compiled `petrel` command. A subscriber is known to be subscribed when
// its -d output shows the SUBACK, so no test sleeps.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { after, afterEach, before, test } from 'node:test';
import { Broker } from '../../src/broker/broker.js';
import { connectionFrom } from '../../src/cli/client-options.js';
import { runPub } from '../../src/cli/pub.js';
import { runSub, TIMEOUT_EXIT } from '../../src/cli/sub.js';
import { connectClient, startBroker, uid, within, type TestBroker } from '../e2e/harness.js';
import { makeCerts } from '../transport/certs.js';

const T = { timeout: 15_000 };
const dir = mkdtempSync(join(tmpdir(), 'petrel-cli-pubsub-'));
let broker: TestBroker;
before(async () => { broker = await startBroker(); });
after(async () => {
  await broker.close();
  rmSync(dir, { recursive: true, force: true });
});

// Subscribers a failed test left running are stopped, so the broker's close does not wait on them.
const running: AbortController[] = [];
afterEach(() => { for (const c of running.splice(0)) c.abort(); });

function fakeIo(stdin?: string | Buffer) {
  const io = { stdin: new PassThrough(), stdout: new PassThrough(), stderr: new PassThrough(), signal: undefined as AbortSignal | undefined };
  let out = '';
  let err = '';
  io.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  io.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  io.stdin.end(stdin ?? '');
  return { io, out: () => out, err: () => err };
}

const target = (port = broker.port) => ['-h', '127.0.0.1', '-p', String(port)];

/** Runs `sub` with -d; `subscribed` resolves at its SUBACK. */
function sub(args: string[], port = broker.port) {
  const f = fakeIo();
  const stop = new AbortController();
  running.push(stop);
  f.io.signal = stop.signal;
  const code = runSub([...target(port), '-d', ...args], f.io);
  const subscribed = within(new Promise<void>((resolve, reject) => {
    const check = (): void => { if (f.err().includes('received SUBACK')) resolve(); };
    f.io.stderr.on('data', check);
    check();
    void code.then((c) => reject(new Error(`sub exited with ${c} before its SUBACK: ${f.err()}`)));
  }), 'the subscriber\'s SUBACK');
  // Tests of a sub that is meant to fail never await its SUBACK.
  subscribed.catch(() => undefined);
  return { code: within(code, 'sub to exit', 10_000), subscribed, stop, out: f.out, err: f.err };
}

async function pub(args: string[], stdin?: string, port = broker.port) {
  const f = fakeIo(stdin);
  const code = await within(runPub([...target(port), ...args], f.io), 'pub to exit', 10_000);
  return { code, out: f.out(), err: f.err() };
}

test('pub -m reaches sub -v, which prints "topic payload" lines and exits 0 after -C', T, async () => {
  const topic = uid('cli/rt/');
  const s = sub(['-t', `${topic}/#`, '-v', '-C', '2']);
  await s.subscribed;
  assert.equal((await pub(['-t', `${topic}/a`, '-m', 'hello world'])).code, 0);
  assert.equal((await pub(['-t', `${topic}/b`, '-n'])).code, 0);
  assert.equal(await s.code, 0, s.err());
  assert.equal(s.out(), `${topic}/a hello world\n${topic}/b (null)\n`);
});

test('sub -C N prints exactly N messages and exits 0, even when more arrive', T, async () => {
  const topic = uid('cli/count/');
  const s = sub(['-t', topic, '-C', '2', '-q', '1']);
  await s.subscribed;
  const r = await pub(['-t', topic, '-m', 'm', '--repeat', '5', '-q', '1']);
  assert.equal(r.code, 0, r.err);
  assert.equal(await s.code, 0, s.err());
  assert.equal(s.out(), 'm\nm\n');
});

test(`sub -W exits ${TIMEOUT_EXIT} when the time runs out (as mosquitto_sub), 0 when -C is reached first`, T, async () => {
  const topic = uid('cli/wait/');
  const idle = sub(['-t', topic, '-W', '0.3']);
  assert.equal(await idle.code, TIMEOUT_EXIT);
  assert.match(idle.err(), /petrel sub: timed out/);

  const busy = sub(['-t', topic, '-W', '10', '-C', '1']);
  await busy.subscribed;
  await pub(['-t', topic, '-m', 'in time']);
  assert.equal(await busy.code, 0);
  assert.equal(busy.out(), 'in time\n');
});

test('QoS 1 and 2: pub waits for PUBACK and PUBCOMP, sub receives at the QoS sent', T, async () => {
  const topic = uid('cli/qos/');
  const s = sub(['-t', topic, '-q', '2', '-C', '2', '-F', '%q %p']);
  await s.subscribed;
  const one = await pub(['-t', topic, '-m', 'one', '-q', '1', '-d']);
  assert.equal(one.code, 0, one.err);
  assert.match(one.err, /received PUBACK[\s\S]*sending DISCONNECT/);
  const two = await pub(['-t', topic, '-m', 'two', '-q', '2', '-d']);
  assert.equal(two.code, 0, two.err);
  assert.match(two.err, /received PUBREC[\s\S]*sending PUBREL[\s\S]*received PUBCOMP[\s\S]*sending DISCONNECT/);
  assert.equal(await s.code, 0, s.err());
  assert.equal(s.out(), '1 one\n2 two\n');
});

for (const version of ['mqttv5', 'mqttv311']) {
  test(`pub -r retains; sub -R skips the retained message and prints the fresh one (${version})`, T, async () => {
    const topic = uid('cli/retain/');
    assert.equal((await pub(['-t', topic, '-m', 'stale', '-r', '-q', '1', '-V', version])).code, 0);
    const s = sub(['-t', topic, '-R', '-C', '1', '-V', version]);
    await s.subscribed;
    await pub(['-t', topic, '-m', 'fresh', '-V', version]);
    assert.equal(await s.code, 0, s.err());
    assert.equal(s.out(), 'fresh\n');
  });
}

test('sub --retained-only prints the retained messages and exits 0 at the first fresh one', T, async () => {
  const topic = uid('cli/ronly/');
  await pub(['-t', `${topic}/x`, '-m', 'kept', '-r', '-q', '1']);
  const s = sub(['-t', `${topic}/#`, '--retained-only', '-v']);
  await s.subscribed;
  await pub(['-t', `${topic}/y`, '-m', 'new']);
  assert.equal(await s.code, 0, s.err());
  assert.equal(s.out(), `${topic}/x kept\n`);
});

test('sub with several -t receives on each of them; -T filters a topic out', T, async () => {
  const topic = uid('cli/many/');
  const s = sub(['-t', `${topic}/a`, '-t', `${topic}/b/#`, '-T', `${topic}/b/hidden`, '-v', '-C', '2']);
  await s.subscribed;
  for (const [t, m] of [['a', '1'], ['b/hidden', 'x'], ['c', 'x'], ['b/c', '2']]) {
    assert.equal((await pub(['-t', `${topic}/${t}`, '-m', m, '-q', '1'])).code, 0);
  }
  assert.equal(await s.code, 0, s.err());
  assert.equal(s.out(), `${topic}/a 1\n${topic}/b/c 2\n`);
});

test('pub -l sends one message per line of stdin, in order; an empty line is an empty message', T, async () => {
  const topic = uid('cli/lines/');
  const s = sub(['-t', topic, '-v', '-C', '4', '-q', '1']);
  await s.subscribed;
  const r = await pub(['-t', topic, '-l', '-q', '1'], 'one\ntwo\r\n\nthree');
  assert.equal(r.code, 0, r.err);
  assert.equal(await s.code, 0, s.err());
  assert.equal(s.out(), `${topic} one\n${topic} two\n${topic} (null)\n${topic} three\n`);
});

test('pub -f sends the file byte for byte; pub -s sends all of stdin as one message', T, async () => {
  const topic = uid('cli/file/');
  const bytes = Buffer.from([0, 1, 2, 0xfe, 0xff, 0x0a, 0x41]);
  const file = join(dir, 'payload.bin');
  writeFileSync(file, bytes);
  const s = sub(['-t', topic, '-F', '%l %x', '-C', '2']);
  await s.subscribed;
  assert.equal((await pub(['-t', topic, '-f', file])).code, 0);
  assert.equal((await pub(['-t', topic, '-s'], 'a\nb\n')).code, 0);
  assert.equal(await s.code, 0, s.err());
  assert.equal(s.out(), `7 ${bytes.toString('hex')}\n4 ${Buffer.from('a\nb\n').toString('hex')}\n`);

  const missing = await pub(['-t', topic, '-f', join(dir, 'no-such-file')]);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /petrel pub: cannot read -f .*no-such-file/);
});

test('-D publish properties reach a v5 subscriber (MQTT.js) and sub -F prints them', T, async () => {
  const topic = uid('cli/props/');
  const js = await connectClient(broker.url, 5);
  const s = sub(['-t', topic, '-C', '1', '-F', '%P|%C|%R|%D|%E|%F']);
  try {
    await js.client.subscribeAsync(topic, { qos: 1 });
    await s.subscribed;
    const r = await pub(['-t', topic, '-m', '{}', '-q', '1',
      '-D', 'publish', 'user-property', 'k', 'v1', '-D', 'PUBLISH', 'user-property', 'k', 'v2',
      '-D', 'publish', 'user-property', 'other', 'x', '-D', 'publish', 'content-type', 'application/json',
      '-D', 'publish', 'response-topic', 'reply/here', '-D', 'publish', 'correlation-data', 'c-42',
      '-D', 'publish', 'message-expiry-interval', '60', '-D', 'publish', 'payload-format-indicator', '1']);
    assert.equal(r.code, 0, r.err);
    const m = await js.nextMessage();
    const props = m.packet.properties!;
    assert.deepEqual({ ...props.userProperties }, { k: ['v1', 'v2'], other: 'x' });
    assert.equal(props.contentType, 'application/json');
    assert.equal(props.responseTopic, 'reply/here');
    assert.equal(Buffer.from(props.correlationData!).toString(), 'c-42');
    assert.ok(props.messageExpiryInterval! > 0 && props.messageExpiryInterval! <= 60);
    assert.equal(props.payloadFormatIndicator, true);
    assert.equal(await s.code, 0, s.err());
    assert.match(s.out(), /^k:v1 k:v2 other:x\|application\/json\|reply\/here\|c-42\|(60|59)\|1\n$/);
  } finally {
    await js.end();
  }
});

test('-c -i keeps the session: messages sent while the subscriber is away arrive when it returns', T, async () => {
  const topic = uid('cli/session/');
  const id = uid('cli-session-');
  const setup = sub(['-t', topic, '-q', '1', '-c', '-i', id, '-E']);
  assert.equal(await setup.code, 0, setup.err());
  assert.equal((await pub(['-t', topic, '-m', 'while away', '-q', '1'])).code, 0);
  const back = sub(['-t', topic, '-q', '1', '-c', '-i', id, '-C', '1']);
  assert.equal(await back.code, 0, back.err());
  assert.equal(back.out(), 'while away\n');
});

test('-L URLs: mqtt://host:port/topic gives the topic, ws://host:port/path reaches a WebSocket listener', T, async () => {
  const topic = uid('cli/url/');
  const ws = await broker.broker.listen({ protocol: 'ws', port: 0, host: '127.0.0.1' });
  const f = fakeIo();
  const stop = new AbortController();
  running.push(stop);
  f.io.signal = stop.signal;
  const code = runSub(['-L', `ws://127.0.0.1:${ws.port}/mqtt`, '-t', topic, '-C', '1', '-d'], f.io);
  await within(new Promise<void>((resolve) => f.io.stderr.on('data', () => { if (f.err().includes('received SUBACK')) resolve(); })), 'the ws SUBACK');
  const r = await within(runPub(['-L', `mqtt://127.0.0.1:${broker.port}/${topic}`, '-m', 'via url'], fakeIo().io), 'pub -L');
  assert.equal(r, 0);
  assert.equal(await within(code, 'sub -L to exit'), 0, f.err());
  assert.equal(f.out(), 'via url\n');
});

test('SIGINT (here its AbortSignal) ends sub cleanly with exit 0', T, async () => {
  const s = sub(['-t', uid('cli/int/')]);
  await s.subscribed;
  s.stop.abort();
  assert.equal(await s.code, 0);
  assert.match(s.err(), /sending DISCONNECT/);
});

test('TLS: --cafile verifies the server, --cert/--key present a client certificate, --insecure skips verification', T, async () => {
  const certs = makeCerts();
  const b = new Broker();
  try {
    const { port } = await b.listen({ protocol: 'mqtts', host: '127.0.0.1', port: 0,
      tls: { cert: certs.serverA.cert, key: certs.serverA.key, ca: certs.caA.cert, clientCertificates: 'required' } });
    const topic = uid('cli/tls/');
    const client = ['--cert', certs.client.cert, '--key', certs.client.key];
    const s = sub(['-t', topic, '-C', '1', '--cafile', certs.caA.cert, ...client], port);
    await s.subscribed;
    const ok = await pub(['-t', topic, '-m', 'secret', '--insecure', ...client], undefined, port);
    assert.equal(ok.code, 0, ok.err);
    assert.equal(await s.code, 0, s.err());
    assert.equal(s.out(), 'secret\n');
    const untrusted = await pub(['-t', topic, '-m', 'x', '--cafile', certs.caB.cert, ...client], undefined, port);
    assert.equal(untrusted.code, 1);
    assert.match(untrusted.err, new RegExp(`petrel pub: cannot connect to mqtts://127.0.0.1:${port}: .*certificate`));
    const anonymous = await pub(['-t', topic, '-m', 'x', '--cafile', certs.caA.cert], undefined, port);
    assert.equal(anonymous.code, 1, anonymous.err);
    assert.match(anonymous.err, /petrel pub: /);
  } finally {
    await b.close();
    certs.cleanup();
  }
});

test('connection flags: -L with user and # topic, ws path default, -c and -x in MQTT 5, the will', () => {
  const url = connectionFrom({ url: 'mqtts://me:p%40ss@example.com/a/#' }, {}, 'sub');
  assert.equal(url.urlTopic, 'a/#');
  assert.deepEqual([url.options.protocol, url.options.host, url.options.port, url.options.username, url.options.password],
    ['mqtts', 'example.com', 8883, 'me', 'p@ss']);
  const ws = connectionFrom({ url: 'ws://example.com:8080' }, {}, 'sub');
  assert.deepEqual([ws.options.protocol, ws.options.port, ws.options.path, ws.urlTopic], ['ws', 8080, '/mqtt', undefined]);
  const kept = connectionFrom({ id: 'me', 'disable-clean-session': true }, {}, 'sub');
  assert.deepEqual([kept.options.clean, kept.options.properties?.sessionExpiryInterval], [false, 0xffffffff]);
  const x = connectionFrom({ 'session-expiry': '30', 'protocol-version': '5' }, { connect: { receiveMaximum: 5 } }, 'pub');
  assert.deepEqual(x.options.properties, { receiveMaximum: 5, sessionExpiryInterval: 30 });
  const v3 = connectionFrom({ 'protocol-version': 'mqttv31', id: 'old', 'disable-clean-session': true }, {}, 'pub');
  assert.deepEqual([v3.options.protocolVersion, v3.options.protocolId, v3.options.clean, v3.options.properties], [3, 'MQIsdp', false, undefined]);
  const will = connectionFrom({ 'will-topic': 'w/t', 'will-payload': 'bye', 'will-qos': '1', 'will-retain': true }, { will: { contentType: 'text/plain' } }, 'pub');
  assert.deepEqual({ ...will.options.will, payload: will.options.will?.payload.toString() },
    { topic: 'w/t', payload: 'bye', qos: 1, retain: true, properties: { contentType: 'text/plain' } });
});

test('a port nobody listens on: pub and sub exit 1 saying they cannot connect', T, async () => {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  server.close();
  await once(server, 'close');
  const p = await pub(['-t', 't', '-m', 'x'], undefined, port);
  assert.equal(p.code, 1);
  assert.match(p.err, new RegExp(`petrel pub: cannot connect to mqtt://127.0.0.1:${port}: .*ECONNREFUSED`));
  const s = sub(['-t', 't'], port);
  assert.equal(await s.code, 1);
  assert.match(s.err(), /petrel sub: cannot connect to .*ECONNREFUSED/);
});

test('bad credentials: exit 1 with the CONNACK reason (v5 0x87, v3.1.1 return code 5)', T, async () => {
  const closed = await startBroker({ auth: { allowAnonymous: false } });
  try {
    const v5 = await pub(['-t', 't', '-m', 'x', '-u', 'nobody', '-P', 'wrong'], undefined, closed.port);
    assert.equal(v5.code, 1);
    assert.match(v5.err, /petrel pub: connection refused by mqtt:\/\/127\.0\.0\.1:\d+: Not authorized \(reason code 0x87\)/);
    const v311 = await pub(['-t', 't', '-m', 'x', '-V', 'mqttv311'], undefined, closed.port);
    assert.equal(v311.code, 1);
    assert.match(v311.err, /connection refused .*: (Not authorized|Bad username or password) \(return code [45]\)/);
    const s = sub(['-t', 't'], closed.port);
    assert.equal(await s.code, 1);
    assert.match(s.err(), /petrel sub: connection refused .*Not authorized \(reason code 0x87\)/);
  } finally {
    await closed.close();
  }
});

test('a publish the broker refuses: exit 1 with the v5 reason code; a refused subscription too', T, async () => {
  const strict = await startBroker({ hooks: { authorizePublish: () => false, authorizeSubscribe: () => false } });
  try {
    const r = await pub(['-t', 'no/entry', '-m', 'x', '-q', '1'], undefined, strict.port);
    assert.equal(r.code, 1);
    assert.match(r.err, /petrel pub: publish to 'no\/entry' rejected: Not authorized \(reason code 0x87\)/);
    const s = sub(['-t', 'no/entry'], strict.port);
    assert.equal(await s.code, 1);
    assert.match(s.err(), /subscription to 'no\/entry' refused: Not authorized \(reason code 0x87\)/);
  } finally {
    await strict.close();
  }
});

test('usage errors exit 2 naming the problem; --help exits 0', T, async () => {
  const cases: [string[], RegExp][] = [
    [['-m', 'x'], /a topic is needed/],
    [['-t', 't'], /a message is needed/],
    [['-t', 't', '-m', 'x', '-n'], /only one of/],
    [['-t', 'a/+', '-m', 'x'], /not a topic name/],
    [['-t', 't', '-m', 'x', '-q', '3'], /-q: expected a whole number from 0 to 2/],
    [['-t', 't', '-m', 'x', '-D', 'publish', 'no-such', '1'], /'no-such' is not one of/],
    [['-t', 't', '-m', 'x', '-V', 'mqttv311', '-D', 'publish', 'content-type', 'a'], /need MQTT 5/],
    [['-t', 't', '-m', 'x', '-c'], /-c needs a client id/],
    [['-t', 't', '-m', 'x', '--bogus'], /Unknown option '--bogus'/],
  ];
  for (const [args, message] of cases) {
    const r = await pub(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, message);
    assert.match(r.err, /^petrel pub: /);
  }
  for (const [args, message] of [[['-v'], /a topic filter is needed/], [['-t', 'a/#/b'], /not a topic filter/],
    [['-t', 't', '-R', '--retained-only'], /exclude each other/], [['-t', 't', '-W', '0'], /-W/],
    [['-t', 't', '-V', 'mqttv311', '--nl'], /--nl needs MQTT 5/], [['-t', 't', '-F', '%z'], /-F: unknown %z/]] as [string[], RegExp][]) {
    const f = fakeIo();
    assert.equal(await runSub(args, f.io), 2, `${args.join(' ')}: ${f.err()}`);
    assert.match(f.err(), message);
  }
  for (const run of [runPub, runSub]) {
    const f = fakeIo();
    assert.equal(await run(['--help'], f.io), 0);
    assert.match(f.out(), /Usage: petrel (pub|sub) .*\n[\s\S]*-h, --host HOST/);
  }
});

// Needs `pub` and `sub` wired into src/cli/main.ts: it runs the compiled command as a user would.
test('the petrel command: `petrel sub` and `petrel pub` as child processes; SIGINT exits 0', T, async () => {
  const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
  const topic = uid('cli/child/');
  const start = (args: string[]) => {
    const child = spawn(process.execPath, [main, ...args, ...target()], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const exited = within(once(child, 'exit').then(([code]) => code as number | null), `petrel ${args[0]} to exit`, 10_000);
    const saw = (what: string) => within(new Promise<void>((resolve, reject) => {
      const check = (): void => { if (err.includes(what)) resolve(); };
      child.stderr.on('data', check);
      check();
      void exited.then((code) => reject(new Error(`exited ${code} before '${what}': ${err}`)), () => undefined);
    }), what, 10_000);
    return { child, exited, saw, out: () => out, err: () => err };
  };
  const counted = start(['sub', '-t', topic, '-v', '-C', '1', '-d']);
  const endless = start(['sub', '-t', topic, '-d']);
  await Promise.all([counted.saw('received SUBACK'), endless.saw('received SUBACK')]);
  const p = start(['pub', '-t', topic, '-l', '-q', '1']);
  p.child.stdin.end('from a pipe\n');
  assert.equal(await p.exited, 0, p.err());
  assert.equal(await counted.exited, 0, counted.err());
  assert.equal(counted.out(), `${topic} from a pipe\n`);
  await endless.saw('received PUBLISH');
  endless.child.kill('SIGINT');
  assert.equal(await endless.exited, 0, endless.err());
  assert.equal(endless.out(), 'from a pipe\n');
});
