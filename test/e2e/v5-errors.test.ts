// MQTT 5 error paths end to end, with bytes a client library will not send: each gets
// DISCONNECT with its reason code, then the close, and the broker carries on.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { PacketType } from '../../src/protocol/index.js';
import { props, raw, str } from '../protocol/helpers.js';
import { RawClient, startBroker, type TestBroker } from './harness.js';

let b: TestBroker;
before(async () => { b = await startBroker({ sysInterval: 0 }); });
after(async () => { await b.close(); });

const CASES: [string, Buffer, number][] = [
  ['a client PUBLISH carrying a Subscription Identifier [MQTT-3.3.4-6]', raw(0x30, 'a/b', props(0x0b, 5), 'x'), 0x82],
  ['a wildcard in the Response Topic [MQTT-3.3.2-14]', raw(0x30, 'a/b', props(0x08, str('reply/#')), 'x'), 0x82],
  ['Topic Alias 0 [MQTT-3.3.2-8]', raw(0x30, 'a/b', props(0x23, [0, 0]), 'x'), 0x94],
  ['a Topic Alias above the maximum', raw(0x30, 'a/b', props(0x23, [0, 200]), 'x'), 0x94],
  ['an unknown Topic Alias with an empty topic', raw(0x30, '', props(0x23, [0, 3]), 'x'), 0x82],
];

for (const [name, bytes, code] of CASES) {
  test(`v5: ${name} -> DISCONNECT 0x${code.toString(16)}`, async () => {
    const bystander = await RawClient.connect(b.port, { protocolVersion: 5 });
    await bystander.subscribe('a/#', 0);
    const c = await RawClient.connect(b.port, { protocolVersion: 5 });
    c.send(bytes);
    assert.equal((await c.expect(PacketType.DISCONNECT)).reasonCode, code);
    await c.expectClose();
    // Nothing of it reached the subscriber, and the broker still serves it.
    const other = await RawClient.connect(b.port, { protocolVersion: 5 });
    other.publish('a/ok', 'fine', 0);
    const p = await bystander.expect(PacketType.PUBLISH);
    assert.equal(p.topic, 'a/ok');
    await Promise.all([bystander.end(), other.end()]);
  });
}
