// ACL evaluation, table-driven: for each rule form, who may publish, subscribe and receive what.
// Every row runs through both the convenience functions and a per-client compiled view.
// Rules here are written in the structured form (aclFromRules); the acl_file form is covered by
// acl-mosquitto.test.ts.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AclError,
  aclFromRules,
  canPublish,
  canReceive,
  canSubscribe,
  compileFor,
  parseAclFile,
  type Acl,
  type AclClient,
  type AclRule,
} from '../../src/auth/acl.js';

type Op = 'pub' | 'sub' | 'recv';
/** [client name, operation, topic or filter, allowed] */
type Row = [string, Op, string, boolean];

const CLIENTS: Record<string, AclClient> = {
  alice: { clientId: 'alice-phone', username: 'alice' },
  bob: { clientId: 'bob-1', username: 'bob' },
  /** Connected without a username. */
  anon: { clientId: 'sensor-7', username: undefined },
  /** Has a username but no rules of its own. */
  mallory: { clientId: 'm-1', username: 'mallory' },
  // Identities that would widen a pattern if they were substituted as they are.
  plusId: { clientId: '+', username: undefined },
  hashId: { clientId: '#', username: undefined },
  slashId: { clientId: 'x/y', username: undefined },
  dollarId: { clientId: '$SYS', username: undefined },
  slashUser: { clientId: 'ok', username: 'a/b' },
  plusUser: { clientId: 'ok2', username: '+' },
  emptyUser: { clientId: 'e', username: '' },
};

function check(acl: Acl, client: AclClient, op: Op, topic: string): boolean {
  const view = compileFor(acl, client);
  const [free, compiled] =
    op === 'pub'
      ? [canPublish(acl, client, topic), view.canPublish(topic)]
      : op === 'sub'
        ? [canSubscribe(acl, client, topic), view.canSubscribe(topic)]
        : [canReceive(acl, client, topic), view.canReceive(topic)];
  assert.equal(compiled, free, 'compileFor and the convenience function disagree');
  return free;
}

function scenario(name: string, rules: AclRule[], rows: Row[]): void {
  const acl = aclFromRules(rules);
  for (const [who, op, topic, expected] of rows) {
    test(`${name}: ${who} ${op} '${topic}' is ${expected ? 'allowed' : 'denied'}`, () => {
      assert.equal(check(acl, CLIENTS[who], op, topic), expected);
    });
  }
}

scenario(
  'user rules',
  [
    { user: 'alice', access: 'readwrite', topic: 'home/alice/#' },
    { user: 'alice', access: 'read', topic: 'news/+' },
    { user: 'alice', access: 'write', topic: 'cmd/alice' },
  ],
  [
    ['alice', 'pub', 'home/alice/lamp', true],
    ['alice', 'recv', 'home/alice/lamp', true],
    ['alice', 'sub', 'home/alice/#', true],
    ['alice', 'sub', 'home/alice', true],
    ['alice', 'sub', 'home/#', false],
    ['alice', 'pub', 'home/bob/lamp', false],
    ['alice', 'pub', 'news/today', false],
    ['alice', 'recv', 'news/today', true],
    ['alice', 'recv', 'news/today/late', false],
    ['alice', 'sub', 'news/+', true],
    ['alice', 'sub', 'news/today', true],
    ['alice', 'sub', 'news/#', false],
    ['alice', 'pub', 'cmd/alice', true],
    ['alice', 'recv', 'cmd/alice', false],
    ['alice', 'sub', 'cmd/alice', false],
    ['bob', 'pub', 'home/alice/lamp', false],
    ['bob', 'recv', 'home/alice/lamp', false],
    ['anon', 'sub', 'home/alice/#', false],
  ],
);

scenario(
  'deny overrides readwrite',
  [
    { user: 'alice', access: 'readwrite', topic: 'factory/#' },
    { user: 'alice', access: 'deny', topic: 'factory/secret/#' },
    { user: 'alice', access: 'deny', topic: 'factory/door' },
  ],
  [
    ['alice', 'pub', 'factory/line1', true],
    ['alice', 'pub', 'factory/secret', false],
    ['alice', 'pub', 'factory/secret/plans', false],
    ['alice', 'recv', 'factory/secret/plans', false],
    ['alice', 'pub', 'factory/door', false],
    ['alice', 'recv', 'factory/door', false],
    ['alice', 'recv', 'factory/door/bell', true],
    // A deny refuses a subscription only when it covers all of it; the rest is filtered at delivery.
    ['alice', 'sub', 'factory/#', true],
    ['alice', 'sub', 'factory/+', true],
    ['alice', 'sub', 'factory/secret/#', false],
    ['alice', 'sub', 'factory/secret/+', false],
    ['alice', 'sub', 'factory/door', false],
    ['alice', 'sub', '$share/g/factory/secret/#', false],
  ],
);

scenario(
  'a deny pattern wins over a user allow',
  [
    { user: 'alice', access: 'readwrite', topic: 'box/#' },
    { pattern: true, access: 'deny', topic: 'box/%u/private' },
  ],
  [
    ['alice', 'pub', 'box/alice/private', false],
    ['alice', 'recv', 'box/alice/private', false],
    ['alice', 'pub', 'box/bob/private', true],
    ['alice', 'pub', 'box/alice/public', true],
  ],
);

scenario(
  'anonymous rules',
  [
    { access: 'read', topic: 'public/#' },
    { access: 'write', topic: 'telemetry' },
  ],
  [
    ['anon', 'recv', 'public/x', true],
    ['anon', 'sub', 'public/#', true],
    ['anon', 'pub', 'telemetry', true],
    ['anon', 'pub', 'public/x', false],
    ['anon', 'recv', 'telemetry', false],
    // A client with a username is not anonymous, whether or not it has rules of its own.
    ['alice', 'recv', 'public/x', false],
    ['mallory', 'recv', 'public/x', false],
  ],
);

scenario(
  'patterns with %c and %u',
  [
    { pattern: true, access: 'readwrite', topic: 'devices/%c/#' },
    { pattern: true, access: 'read', topic: 'users/%u/inbox' },
    { pattern: true, access: 'write', topic: '%u/%c/status' },
    { pattern: true, access: 'read', topic: 'broadcast/#' },
    { user: 'alice', access: 'read', topic: 'alice-only' },
  ],
  [
    ['anon', 'pub', 'devices/sensor-7/temp', true],
    ['anon', 'sub', 'devices/sensor-7/#', true],
    ['anon', 'pub', 'devices/sensor-8/temp', false],
    ['anon', 'sub', 'devices/+/#', false],
    ['alice', 'recv', 'users/alice/inbox', true],
    ['alice', 'recv', 'users/bob/inbox', false],
    ['alice', 'pub', 'users/alice/inbox', false],
    ['alice', 'pub', 'alice/alice-phone/status', true],
    ['alice', 'pub', 'alice/bob-1/status', false],
    ['alice', 'recv', 'alice-only', true],
    ['alice', 'recv', 'broadcast/news', true],
    // A %u rule does not apply to a client without a username: there is nothing to substitute.
    ['anon', 'recv', 'users//inbox', false],
    ['anon', 'recv', 'users/%u/inbox', false],
    ['anon', 'recv', 'broadcast/news', true],
    // Patterns apply to a username without rules of its own.
    ['mallory', 'recv', 'users/mallory/inbox', true],
    ['mallory', 'pub', 'devices/m-1/x', true],
    ['mallory', 'recv', 'alice-only', false],
  ],
);

scenario(
  'wildcards in rules and in subscription filters',
  [
    { user: 'alice', access: 'read', topic: 'a/#' },
    { user: 'alice', access: 'read', topic: 'b/+/c' },
    { user: 'alice', access: 'read', topic: 'c/+/#' },
    { user: 'alice', access: 'read', topic: 'd' },
    { user: 'alice', access: 'read', topic: 'e//f' },
  ],
  [
    ['alice', 'sub', 'a/#', true],
    ['alice', 'sub', 'a', true],
    ['alice', 'sub', 'a/+', true],
    ['alice', 'sub', 'a/+/x', true],
    ['alice', 'sub', 'a/x/#', true],
    ['alice', 'sub', '#', false],
    ['alice', 'sub', '+/x', false],
    ['alice', 'sub', 'b/+/c', true],
    ['alice', 'sub', 'b/x/c', true],
    ['alice', 'sub', 'b/#', false],
    ['alice', 'sub', 'b/+/+', false],
    ['alice', 'sub', 'b/+/c/#', false],
    ['alice', 'sub', 'b/+', false],
    ['alice', 'sub', 'c/#', false],
    ['alice', 'sub', 'c/+', true],
    ['alice', 'sub', 'c/x/#', true],
    ['alice', 'sub', 'c', false],
    ['alice', 'sub', 'd', true],
    ['alice', 'sub', 'd/#', false],
    ['alice', 'sub', 'd/+', false],
    ['alice', 'sub', 'e//f', true],
    ['alice', 'sub', 'e/+/f', false],
    ['alice', 'recv', 'a', true],
    ['alice', 'recv', 'a/x/y', true],
    ['alice', 'recv', 'b/x/c', true],
    ['alice', 'recv', 'b//c', true],
    ['alice', 'recv', 'b/x/y', false],
    ['alice', 'recv', 'b/x/c/d', false],
    ['alice', 'recv', 'c', false],
    ['alice', 'recv', 'c/x', true],
    ['alice', 'recv', 'c/x/y/z', true],
    ['alice', 'recv', 'd/e', false],
    // An invalid filter is refused, whatever the rules.
    ['alice', 'sub', 'a/#/b', false],
    ['alice', 'sub', 'a/x+', false],
    ['alice', 'sub', '', false],
  ],
);

scenario(
  '$ topics',
  [
    { user: 'alice', access: 'readwrite', topic: '#' },
    { user: 'alice', access: 'read', topic: '$SYS/broker/#' },
    { user: 'bob', access: 'readwrite', topic: '+/x' },
    { user: 'bob', access: 'readwrite', topic: '$SYS/#' },
    { user: 'bob', access: 'readwrite', topic: '$app/x' },
  ],
  [
    // [MQTT-4.7.2-1] '#' and '+' at the first level do not reach '$' topics.
    ['alice', 'recv', 'anything/at/all', true],
    ['alice', 'recv', '$SYS/broker/uptime', true],
    ['alice', 'recv', '$SYS/other', false],
    ['alice', 'sub', '#', true],
    ['alice', 'sub', '+/broker/#', true],
    ['alice', 'sub', '$SYS/#', false],
    ['alice', 'sub', '$SYS/broker/#', true],
    ['alice', 'sub', '$SYS/+/uptime', false],
    ['alice', 'sub', '$SYS/broker/+', true],
    ['alice', 'recv', 'a/$b', true],
    ['bob', 'recv', 'a/x', true],
    ['bob', 'recv', '$x/x', false],
    ['bob', 'recv', '$SYS/x', true],
    ['bob', 'sub', '$SYS/#', true],
    ['bob', 'recv', '$app/x', true],
    // Clients never publish to '$' topics, whatever the rules say.
    ['alice', 'pub', '$SYS/broker/uptime', false],
    ['alice', 'pub', '$anything', false],
    ['bob', 'pub', '$SYS/x', false],
    ['bob', 'pub', '$app/x', false],
    ['alice', 'pub', 'a/$b', true],
  ],
);

scenario(
  'shared subscriptions are checked on the inner filter',
  [{ user: 'alice', access: 'read', topic: 'jobs/#' }],
  [
    ['alice', 'sub', '$share/workers/jobs/#', true],
    ['alice', 'sub', '$share/workers/jobs/build', true],
    ['alice', 'sub', '$share/jobs/other', false],
    ['alice', 'sub', '$share/workers/#', false],
    ['alice', 'sub', '$share/workers', false],
    ['alice', 'sub', '$share//jobs/x', false],
    ['alice', 'sub', '$share/a+b/jobs/x', false],
    ['alice', 'sub', '$share/workers/', false],
  ],
);

scenario(
  'substituted values that would widen a pattern',
  [
    { pattern: true, access: 'readwrite', topic: 'devices/%c/#' },
    { pattern: true, access: 'read', topic: 'users/%u/#' },
    { pattern: true, access: 'read', topic: '%c/#' },
  ],
  [
    ['anon', 'pub', 'devices/sensor-7/x', true],
    ['anon', 'recv', 'sensor-7/x', true],
    // '+' as a client id must not become devices/+/#.
    ['plusId', 'sub', 'devices/+/#', false],
    ['plusId', 'recv', 'devices/other/x', false],
    ['plusId', 'pub', 'devices/other/x', false],
    // '#' must not become devices/#, nor '#' at the first level.
    ['hashId', 'sub', 'devices/#', false],
    ['hashId', 'recv', 'devices/a/b', false],
    ['hashId', 'recv', 'anything', false],
    // 'x/y' spans two levels: it is not substituted, not even where it would name its own subtree.
    ['slashId', 'pub', 'devices/x/y/z', false],
    ['slashId', 'recv', 'x/y/z', false],
    ['slashUser', 'recv', 'users/a/b/x', false],
    ['slashUser', 'sub', 'users/a/#', false],
    ['slashUser', 'pub', 'devices/ok/x', true],
    ['plusUser', 'sub', 'users/+/#', false],
    ['plusUser', 'recv', 'users/alice/x', false],
    // A value starting with '$' at the first level would open '$SYS/#'.
    ['dollarId', 'recv', '$SYS/broker/uptime', false],
    ['dollarId', 'sub', '$SYS/#', false],
    ['dollarId', 'pub', 'devices/$SYS/x', true],
    // An empty username names no level.
    ['emptyUser', 'recv', 'users//x', false],
    ['emptyUser', 'sub', 'users/+/#', false],
  ],
);

scenario(
  'a deny pattern that cannot be narrowed to the client is widened instead',
  [
    { access: 'readwrite', topic: 'private/#' },
    { access: 'readwrite', topic: 'other/#' },
    { pattern: true, access: 'deny', topic: 'private/%c/keys' },
  ],
  [
    ['anon', 'pub', 'private/sensor-7/keys', false],
    ['anon', 'pub', 'private/sensor-7/data', true],
    ['anon', 'pub', 'private/other/keys', true],
    // 'x/y' would have made private/x/y/keys: the deny covers all of private/# for it.
    ['slashId', 'pub', 'private/x/y/keys', false],
    ['slashId', 'pub', 'private/z', false],
    ['slashId', 'sub', 'private/#', false],
    ['slashId', 'pub', 'other/z', true],
    ['plusId', 'recv', 'private/a/keys', false],
  ],
);

scenario(
  'a deny pattern at the first level that cannot be narrowed denies everything',
  [
    { access: 'readwrite', topic: '#' },
    { pattern: true, access: 'deny', topic: '%c/#' },
  ],
  [
    ['anon', 'pub', 'x/y', true],
    ['anon', 'pub', 'sensor-7/y', false],
    ['anon', 'recv', 'sensor-7', false],
    ['plusId', 'pub', 'x/y', false],
    ['plusId', 'sub', 'x/#', false],
    ['dollarId', 'recv', 'x/y', false],
  ],
);

scenario(
  'no rules',
  [],
  [
    ['alice', 'pub', 'a', false],
    ['alice', 'sub', 'a', false],
    ['alice', 'recv', 'a', false],
    ['anon', 'sub', '#', false],
  ],
);

test('a reloaded Acl takes effect for the same client object', () => {
  const alice = CLIENTS.alice;
  const before = aclFromRules([{ user: 'alice', access: 'read', topic: 'news/#' }]);
  const after = aclFromRules([{ user: 'alice', access: 'read', topic: 'weather/#' }]);
  assert.equal(canReceive(before, alice, 'news/today'), true);
  assert.equal(canReceive(after, alice, 'news/today'), false);
  assert.equal(canReceive(after, alice, 'weather/today'), true);
});

test('the convenience functions follow a change of identity on the same object', () => {
  const acl = aclFromRules([{ pattern: true, access: 'read', topic: 'users/%u/#' }]);
  const client = { clientId: 'c', username: 'alice' as string | undefined };
  assert.equal(canReceive(acl, client, 'users/alice/x'), true);
  client.username = 'bob';
  assert.equal(canReceive(acl, client, 'users/alice/x'), false);
  assert.equal(canReceive(acl, client, 'users/bob/x'), true);
  client.username = undefined;
  assert.equal(canReceive(acl, client, 'users/bob/x'), false);
});

test('compileFor substitutes once: the view keeps the identity it was made for', () => {
  const acl = aclFromRules([{ pattern: true, access: 'write', topic: 'devices/%c' }]);
  const client = { clientId: 'one', username: undefined };
  const view = compileFor(acl, client);
  client.clientId = 'two';
  assert.equal(view.canPublish('devices/one'), true);
  assert.equal(view.canPublish('devices/two'), false);
});

test('an Acl is plain frozen data: entries with scope, access, topic and origin', () => {
  const acl = aclFromRules(
    [
      { access: 'read', topic: 'a' },
      { user: 'alice', access: 'write', topic: 'b/#' },
      { pattern: true, access: 'deny', topic: 'c/%c' },
    ],
    'config.acl',
  );
  assert.deepEqual(acl.entries, [
    { scope: 'anonymous', user: undefined, access: 'read', topic: 'a', origin: 'config.acl[0]' },
    { scope: 'user', user: 'alice', access: 'write', topic: 'b/#', origin: 'config.acl[1]' },
    { scope: 'pattern', user: undefined, access: 'deny', topic: 'c/%c', origin: 'config.acl[2]' },
  ]);
  assert.equal(acl.source, 'config.acl');
  assert.deepEqual(acl.warnings, []);
  assert.ok(Object.isFrozen(acl) && Object.isFrozen(acl.entries) && Object.isFrozen(acl.entries[0]));
});

/** [rules, where, message pattern] */
const RULE_ERRORS: [unknown, string, RegExp][] = [
  [{ access: 'read', topic: 'a' }, 'acl', /^acl: expected an array of rules$/],
  [[null], 'acl[0]', /^acl\[0\]: expected an object/],
  [['topic read a'], 'acl[0]', /^acl\[0\]: expected an object/],
  [[{ access: 'read', topic: 'a', acces: 'read' }], 'acl[0]', /^acl\[0\]: unknown field 'acces'/],
  [[{ topic: 'a' }], 'acl[0]', /^acl\[0\]: access is missing/],
  [[{ access: 'rw', topic: 'a' }], 'acl[0]', /^acl\[0\]: access must be read, write, readwrite or deny, not "rw"$/],
  [[{ access: 'read' }], 'acl[0]', /^acl\[0\]: topic must be a string, not undefined$/],
  [[{ access: 'read', topic: 'ok' }, { access: 'read', topic: 'a/#/b' }], 'acl[1]', /^acl\[1\]: invalid topic filter "a\/#\/b": '#' is not the last character$/],
  [[{ access: 'read', topic: 'a+' }], 'acl[0]', /'\+' does not occupy a whole level$/],
  [[{ access: 'read', topic: '' }], 'acl[0]', /topic filter is empty$/],
  [[{ user: '', access: 'read', topic: 'a' }], 'acl[0]', /^acl\[0\]: user must be a non-empty string/],
  [[{ user: 7, access: 'read', topic: 'a' }], 'acl[0]', /^acl\[0\]: user must be a non-empty string, not 7$/],
  [[{ pattern: 'yes', access: 'read', topic: 'a' }], 'acl[0]', /^acl\[0\]: pattern must be true or false/],
  [[{ user: 'a', pattern: true, access: 'read', topic: 'a' }], 'acl[0]', /either 'user' or 'pattern: true', not both$/],
];

for (const [rules, where, pattern] of RULE_ERRORS) {
  test(`aclFromRules refuses ${JSON.stringify(rules)} at ${where}`, () => {
    assert.throws(() => aclFromRules(rules), (err: unknown) => {
      assert.ok(err instanceof AclError);
      assert.match(err.message, pattern);
      return true;
    });
  });
}

test('aclFromRules errors carry the source and the index', () => {
  assert.throws(
    () => aclFromRules([{ access: 'read', topic: 'a' }, { access: 'nope', topic: 'b' }], 'petrel.yaml acl'),
    (err: unknown) => err instanceof AclError && err.source === 'petrel.yaml acl' && err.index === 1 && err.line === undefined
      && err.message.startsWith('petrel.yaml acl[1]: '),
  );
});

test('pattern: false is the same as no pattern', () => {
  const acl = aclFromRules([{ pattern: false, access: 'read', topic: 'a' }]);
  assert.equal(acl.entries[0].scope, 'anonymous');
});

test('aclFromRules warns about %c and %u that will not be substituted', () => {
  const acl = aclFromRules([
    { user: 'alice', access: 'read', topic: 'a/%u' },
    { pattern: true, access: 'read', topic: 'b/x%c' },
    { pattern: true, access: 'read', topic: 'everyone/#' },
  ]);
  assert.equal(acl.warnings.length, 2);
  assert.match(acl.warnings[0], /^acl\[0\]: '%u' is substituted only in patterns/);
  assert.match(acl.warnings[1], /^acl\[1\]: 'x%c' is literal/);
  // The literal rule matches its literal topic only.
  assert.equal(canReceive(acl, CLIENTS.alice, 'a/%u'), true);
  assert.equal(canReceive(acl, CLIENTS.alice, 'a/alice'), false);
});

test('an empty ACL warns that it denies everything', () => {
  assert.match(parseAclFile('# nothing yet\n', 'empty.acl').warnings.join(), /^empty\.acl: no rules/);
});
