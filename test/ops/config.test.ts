// The config file: every key checked against the one schema, errors that name the line, the key
// and what was expected, and the documentation written from the same schema.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { DEFAULT_OPTIONS, resolveOptions } from '../../src/broker/options.js';
import { ConfigError, parseConfig } from '../../src/ops/config.js';
import { DOC_BEGIN, DOC_END, renderConfigReference } from '../../src/ops/config-doc.js';
import { BROKER_SCHEMA } from '../../src/ops/options-schema.js';
import { SHARED_STRATEGIES } from '../../src/routing/shared-strategies.js';

const repo = (path: string): string => fileURLToPath(new URL(`../../../${path}`, import.meta.url));

function problems(text: string): string[] {
  try {
    parseConfig(text, 'petrel.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return [...err.problems];
  }
  assert.fail('expected the config to be refused');
}

test('an empty file is valid and every default applies', () => {
  assert.deepEqual(parseConfig('', '/etc/petrel/petrel.yaml'), {});
  assert.deepEqual(parseConfig('# nothing but a comment\n', 'x.yaml'), {});
  const resolved = resolveOptions(parseConfig('', 'x.yaml'));
  assert.equal(resolved.maxPacketSize, DEFAULT_OPTIONS.maxPacketSize);
  assert.deepEqual(resolved.listeners, [{ protocol: 'mqtt', port: 1883 }]);
});

test('a full config is read, and relative file paths are taken from the file’s directory', () => {
  const options = parseConfig([
    'listeners:',
    '  - protocol: mqtt',
    '    port: 1883',
    '  - protocol: wss',
    '    port: 8084',
    '    path: /ws',
    '    tls: { cert: certs/server.pem, key: certs/server.key, ca: /abs/ca.pem, clientCertificates: optional }',
    '    proxyProtocol: { trusted: [10.0.0.0/8, "::1"] }',
    'dataDir: state',
    'durability: batched',
    'maxQueuedMessages: 5000',
    'auth:',
    '  passwordFile: passwd',
    '  acl:',
    '    - { user: alice, access: readwrite, topic: "alice/#" }',
    '    - { pattern: true, access: read, topic: "clients/%c/#" }',
    'log: { level: debug }',
  ].join('\n'), '/etc/petrel/petrel.yaml');
  assert.equal(options.dataDir, '/etc/petrel/state');
  assert.equal(options.durability, 'batched');
  assert.equal(options.maxQueuedMessages, 5000);
  assert.equal(options.listeners?.[1].tls?.cert, '/etc/petrel/certs/server.pem');
  assert.equal(options.listeners?.[1].tls?.ca, '/abs/ca.pem');
  assert.deepEqual(options.listeners?.[1].proxyProtocol, { trusted: ['10.0.0.0/8', '::1'] });
  assert.equal(options.auth?.passwordFile, '/etc/petrel/passwd');
  assert.equal(options.auth?.acl?.length, 2);
  assert.doesNotThrow(() => resolveOptions(options));
});

const refusals: [string, string, RegExp][] = [
  ['a value of the wrong type', 'maxPacketSize: big\n', /^petrel\.yaml:1:16: maxPacketSize: expected an integer from 16 to 268435460 \(bytes\), got "big"$/],
  ['a number out of range', 'receiveMaximum: 0\n', /^petrel\.yaml:1:17: receiveMaximum: expected an integer from 1 to 65535/],
  ['a misspelt key, with a suggestion', 'maxPaketSize: 10\n', /^petrel\.yaml:1:1: maxPaketSize: unknown key \(did you mean 'maxPacketSize'\?\)$/],
  ['a bad enum value', '\n\ndurability: always\n', /^petrel\.yaml:3:13: durability: expected one of sync, batched, none, got "always"$/],
  ['a listener without a port', 'listeners:\n  - protocol: mqtt\n', /^petrel\.yaml:2:5: listeners\[0\]\.port: is required$/],
  ['a TLS listener without tls', 'listeners:\n  - { protocol: mqtts, port: 8883 }\n', /listeners\[0\]\.tls: is required for a mqtts listener/],
  ['client certificates without a CA', 'listeners:\n  - protocol: mqtts\n    port: 8883\n    tls: { cert: a, key: b, clientCertificates: required }\n', /listeners\[0\]\.tls\.ca: is required when clientCertificates/],
  ['two listeners on one port', 'listeners:\n  - { protocol: mqtt, port: 1883 }\n  - { protocol: ws, port: 1883 }\n', /listeners: two listeners on \*:1883/],
  ['a bad ACL access word', 'auth:\n  acl:\n    - { user: a, access: all, topic: x }\n', /^petrel\.yaml:3:26: auth\.acl\[0\]\.access: expected one of read, write, readwrite, deny, got "all"$/],
  ['a YAML syntax error', 'listeners: [\n', /^petrel\.yaml:\d+:\d+: /],
  ['a duplicated key', 'durability: sync\ndurability: none\n', /^petrel\.yaml:2:1: Map keys must be unique/],
  ['a list where a mapping belongs', '- a\n- b\n', /\(top level\): expected a mapping of keys to values, got a list/],
];

for (const [what, text, expected] of refusals) {
  test(`refused: ${what}`, () => {
    const found = problems(text);
    assert.ok(found.some((p) => expected.test(p)), `got:\n${found.join('\n')}`);
  });
}

test('every problem is reported, not just the first', () => {
  const found = problems('maxPacketSize: -1\nsysInterval: x\nbogus: 1\n');
  assert.equal(found.length, 3, found.join('\n'));
});

test('the library options are checked by the same schema', () => {
  assert.throws(() => resolveOptions({ maxInflight: 0 }), /option maxInflight: expected an integer from 1 to 65535/);
  assert.throws(() => resolveOptions({ listeners: [{ protocol: 'wss', port: 1 }] }), /option listeners\[0\]\.tls: is required/);
  assert.throws(() => resolveOptions({ nonsense: 1 } as never), /option nonsense: unknown key/);
});

test('the schema and the code agree on the shared-subscription strategies', () => {
  const spec = BROKER_SCHEMA.fields.sharedSubscriptionStrategy;
  assert.equal(spec.type, 'enum');
  assert.deepEqual(spec.type === 'enum' ? [...spec.values] : [], [...SHARED_STRATEGIES]);
});

test('docs/configuration.md documents every key with its default (written from the schema)', () => {
  const path = repo('docs/configuration.md');
  const doc = readFileSync(path, 'utf8');
  const begin = doc.indexOf(DOC_BEGIN);
  const end = doc.indexOf(DOC_END);
  assert.ok(begin >= 0 && end > begin, 'docs/configuration.md lacks the generated reference markers');
  const rendered = renderConfigReference();
  if (process.env.PETREL_WRITE_DOCS === '1') {
    writeFileSync(path, doc.slice(0, begin) + rendered + doc.slice(end + DOC_END.length));
    return;
  }
  assert.equal(doc.slice(begin, end + DOC_END.length), rendered, 'docs/configuration.md is stale: run `npm run docs:config`');
});

test('the example config file ships valid', () => {
  const text = readFileSync(repo('petrel.example.yaml'), 'utf8');
  assert.doesNotThrow(() => resolveOptions(parseConfig(text, repo('petrel.example.yaml'))));
});
