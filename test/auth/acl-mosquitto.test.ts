// Mosquitto's acl_file syntax: a realistic file as a Mosquitto user would bring it over, what
// it allows, the liberties of the syntax, and parse errors with file and line.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  AclError,
  canPublish,
  canReceive,
  canSubscribe,
  compileFor,
  loadAclFile,
  parseAclFile,
  type AclClient,
} from '../../src/auth/acl.js';

/** Fixtures stay in the source tree; tests run compiled from `dist/test/auth` or elsewhere. */
function fixture(name: string): string {
  const candidates = [
    fileURLToPath(new URL(`../../../test/auth/fixtures/${name}`, import.meta.url)),
    resolve('test/auth/fixtures', name),
  ];
  const found = candidates.find((path) => existsSync(path));
  if (found === undefined) throw new Error(`fixture ${name} not found in ${candidates.join(', ')}`);
  return found;
}

const PLANT = fixture('acl-mosquitto.acl');

const CLIENTS: Record<string, AclClient> = {
  display: { clientId: 'wall-display', username: undefined },
  operator: { clientId: 'op-console', username: 'operator' },
  historian: { clientId: 'hist-1', username: 'historian' },
  night: { clientId: 'tablet-3', username: 'night shift' },
  pump: { clientId: 'pump-12', username: 'pump-12' },
  rogue: { clientId: '#', username: 'pump-13' },
};

/** [client, operation, topic or filter, allowed] */
const ROWS: [string, 'pub' | 'sub' | 'recv', string, boolean][] = [
  // Anonymous clients: the topic lines before the first user line.
  ['display', 'recv', 'status/line1', true],
  ['display', 'sub', 'status/#', true],
  ['display', 'pub', 'status/line1', false],
  ['display', 'sub', '$SYS/broker/clients/#', true],
  ['display', 'recv', '$SYS/broker/clients/connected', true],
  ['display', 'recv', '$SYS/broker/uptime', false],
  ['display', 'sub', '#', false],
  ['display', 'recv', 'plant/hall1/valve', false],
  // The device patterns apply to anonymous clients too (%c only).
  ['display', 'sub', 'devices/wall-display/cmd/#', true],
  // ...but %u patterns do not: there is no username to put in.
  ['display', 'pub', 'home/wall-display/x', false],
  // A user block.
  ['operator', 'pub', 'plant/hall1/valve', true],
  ['operator', 'sub', 'plant/#', true],
  ['operator', 'pub', 'plant/safety/override', false],
  ['operator', 'recv', 'plant/safety/override', false],
  ['operator', 'sub', 'plant/safety/override', false],
  ['operator', 'recv', 'plant/safety/override/ack', true],
  ['operator', 'recv', '$SYS/broker/uptime', true],
  ['operator', 'sub', '$SYS/#', true],
  ['operator', 'pub', '$SYS/broker/uptime', false],
  ['operator', 'recv', 'status/line1', false],
  ['operator', 'pub', 'home/operator/notes', true],
  ['operator', 'pub', 'home/operator/locked/diary', false],
  ['operator', 'pub', 'home/historian/notes', false],
  ['historian', 'sub', 'plant/+/telemetry/#', true],
  ['historian', 'sub', 'plant/hall1/telemetry/temp', true],
  ['historian', 'sub', 'plant/#', false],
  ['historian', 'sub', 'plant/+/#', false],
  ['historian', 'recv', 'plant/hall1/telemetry/temp', true],
  ['historian', 'recv', 'plant/hall1/valve', false],
  ['historian', 'pub', 'archive/2024/06/temp', true],
  ['historian', 'recv', 'archive/2024/06/temp', false],
  // Spaces in usernames and topics.
  ['night', 'recv', 'plant/hall 2/temp', true],
  ['night', 'recv', 'plant/hall 3/temp', false],
  ['night', 'pub', 'notes/night shift', true],
  ['night', 'pub', 'notes/night', false],
  ['night', 'pub', 'home/night shift/todo', true],
  // A username without a block of its own: patterns only.
  ['pump', 'sub', 'devices/pump-12/cmd/#', true],
  ['pump', 'recv', 'devices/pump-12/cmd/start', true],
  ['pump', 'pub', 'devices/pump-12/state', true],
  ['pump', 'pub', 'devices/pump-13/state', false],
  ['pump', 'sub', 'devices/+/cmd/#', false],
  ['pump', 'recv', 'status/line1', false],
  // Mosquitto's bridge example parses, but no client publishes to '$' topics here.
  ['pump', 'pub', '$SYS/broker/connection/pump-12/state', false],
  // A client id of '#' is not substituted: it gets no device topics at all.
  ['rogue', 'sub', 'devices/#', false],
  ['rogue', 'recv', 'devices/pump-12/cmd/start', false],
  ['rogue', 'pub', 'devices/pump-12/state', false],
  ['rogue', 'pub', 'home/pump-13/x', true],
];

const plant = parseAclFile(readFileSync(PLANT, 'utf8'), 'acl-mosquitto.acl');

for (const [who, op, topic, expected] of ROWS) {
  test(`plant acl_file: ${who} ${op} '${topic}' is ${expected ? 'allowed' : 'denied'}`, () => {
    const client = CLIENTS[who];
    const view = compileFor(plant, client);
    const [free, compiled] =
      op === 'pub'
        ? [canPublish(plant, client, topic), view.canPublish(topic)]
        : op === 'sub'
          ? [canSubscribe(plant, client, topic), view.canSubscribe(topic)]
          : [canReceive(plant, client, topic), view.canReceive(topic)];
    assert.equal(compiled, free);
    assert.equal(free, expected);
  });
}

test('plant acl_file: entries, scopes and origins', () => {
  const summary = plant.entries.map((e) => `${e.origin} ${e.scope}${e.user === undefined ? '' : `(${e.user})`} ${e.access} ${e.topic}`);
  assert.deepEqual(summary, [
    'acl-mosquitto.acl:5 anonymous read status/#',
    'acl-mosquitto.acl:6 anonymous read $SYS/broker/clients/#',
    'acl-mosquitto.acl:10 user(operator) readwrite plant/#',
    'acl-mosquitto.acl:11 user(operator) deny plant/safety/override',
    'acl-mosquitto.acl:12 user(operator) read $SYS/#',
    'acl-mosquitto.acl:16 user(historian) read plant/+/telemetry/#',
    'acl-mosquitto.acl:17 user(historian) write archive/#',
    'acl-mosquitto.acl:22 user(night shift) read plant/hall 2/#',
    'acl-mosquitto.acl:23 user(night shift) write notes/night shift',
    'acl-mosquitto.acl:27 pattern read devices/%c/cmd/#',
    'acl-mosquitto.acl:28 pattern write devices/%c/state',
    'acl-mosquitto.acl:31 pattern readwrite home/%u/#',
    'acl-mosquitto.acl:32 pattern deny home/%u/locked/#',
    'acl-mosquitto.acl:35 pattern write $SYS/broker/connection/%c/state',
  ]);
  assert.deepEqual(plant.warnings, []);
});

test('loadAclFile reads the file and names it in entries', async () => {
  const acl = await loadAclFile(PLANT);
  assert.equal(acl.source, PLANT);
  assert.equal(acl.entries.length, plant.entries.length);
  assert.equal(acl.entries[0].origin, `${PLANT}:5`);
  assert.equal(canReceive(acl, CLIENTS.operator, '$SYS/broker/uptime'), true);
});

test('CRLF line ends, a byte order mark, tabs and extra blanks parse the same', () => {
  const text = readFileSync(PLANT, 'utf8');
  const messy = '\ufeff' + text.split('\n').map((line) => line.replace(/^topic /, 'topic\t').replace(/^(pattern \w+) /, '$1   ') + '  ').join('\r\n');
  const again = parseAclFile(messy, 'acl-mosquitto.acl');
  assert.deepEqual(again.entries, plant.entries);
});

test('a byte order mark before the first rule is ignored', () => {
  assert.deepEqual(parseAclFile('\ufefftopic read a\n').entries.map((e) => e.topic), ['a']);
});

test('access is optional: a lone word is the topic, with readwrite', () => {
  const acl = parseAclFile('user alice\ntopic a/b\ntopic read\n   # an indented comment\n');
  assert.deepEqual(
    acl.entries.map((e) => [e.access, e.topic]),
    [
      ['readwrite', 'a/b'],
      ['readwrite', 'read'],
    ],
  );
  assert.equal(acl.warnings.length, 1);
  assert.match(acl.warnings[0], /^acl_file:3: 'read' is taken as the topic/);
});

test('repeated user blocks add to the same user; patterns apply wherever they are written', () => {
  const acl = parseAclFile('user alice\ntopic read a\nuser bob\npattern read p/%u\ntopic read b\nuser alice\ntopic read c\n');
  const alice = { clientId: 'x', username: 'alice' };
  assert.deepEqual(['a', 'b', 'c', 'p/alice'].map((t) => canReceive(acl, alice, t)), [true, false, true, true]);
});

test('acl_file warnings: patterns without substitution, %c inside a level, %u in a topic line', () => {
  const acl = parseAclFile('pattern read everyone\npattern read a/b%c\nuser x\ntopic read q/%u\n', 'w.acl');
  assert.deepEqual(acl.warnings.map((w) => w.split(':').slice(0, 2).join(':')), ['w.acl:1', 'w.acl:2', 'w.acl:2', 'w.acl:4']);
});

/** [text, line, message pattern] */
const PARSE_ERRORS: [string, number, RegExp][] = [
  ['topic read a\nbogus line\n', 2, /^test\.acl:2: unknown keyword 'bogus' \(expected user, topic or pattern\)$/],
  ['Topic read a\n', 1, /unknown keyword 'Topic'/],
  ['user\n', 1, /^test\.acl:1: 'user' needs a username$/],
  ['user alice\ntopic\n', 2, /^test\.acl:2: 'topic' needs a topic/],
  ['pattern   \n', 1, /'pattern' needs a topic/],
  ['# comment\n\ntopic rw a/b\n', 3, /^test\.acl:3: unknown access 'rw' \(expected read, write, readwrite or deny/],
  ['topic my topic\n', 1, /unknown access 'my'.*a topic containing spaces needs one/],
  ['topic read a/#/b\n', 1, /^test\.acl:1: invalid topic filter 'a\/#\/b': '#' is not the last character$/],
  ['user a\n\n\npattern write sensors/+x\n', 4, /^test\.acl:4: invalid topic filter 'sensors\/\+x': '\+' does not occupy a whole level$/],
  ['topic deny a#\n', 1, /'#' does not follow '\/'/],
];

for (const [text, line, pattern] of PARSE_ERRORS) {
  test(`parseAclFile refuses ${JSON.stringify(text)} at line ${line}`, () => {
    assert.throws(() => parseAclFile(text, 'test.acl'), (err: unknown) => {
      assert.ok(err instanceof AclError);
      assert.equal(err.source, 'test.acl');
      assert.equal(err.line, line);
      assert.match(err.message, pattern);
      return true;
    });
  });
}

test('loadAclFile names the path and the line of a bad line', async () => {
  const path = fixture('acl-bad-access.acl');
  await assert.rejects(loadAclFile(path), (err: unknown) => {
    assert.ok(err instanceof AclError);
    assert.equal(err.message, `${path}:5: unknown access 'writ' (expected read, write, readwrite or deny; a topic containing spaces needs one)`);
    return true;
  });
});

test('loadAclFile rejects a missing file', async () => {
  await assert.rejects(loadAclFile(resolve(PLANT, '..', 'acl-does-not-exist.acl')), /ENOENT/);
});
