// When the store cannot take a message, nobody is told it was: a full store answers v5
// publishers 0x97 and disconnects 3.x ones, and the broker carries on. A store that cannot be
// opened stops the broker with a message, instead of starting empty.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { Broker } from '../../src/index.js';
import { PacketType } from '../../src/protocol/index.js';
import { RawClient, within } from '../e2e/harness.js';
import { startBrokerProcess } from './broker-process.js';

const root = mkdtempSync(join(tmpdir(), 'petrel-store-failures-'));
after(() => rmSync(root, { recursive: true, force: true }));
const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

test('a full store: v5 publishers get 0x97, 3.x ones are disconnected, nothing is falsely acknowledged, the broker carries on', async () => {
  const broker = new Broker({ dataDir: join(root, 'full'), storeMaxSize: 1024 * 1024, sysInterval: 0 });
  const { port } = await broker.listen({ port: 0, host: '127.0.0.1' });
  try {
    // A persistent subscriber that is away: every message for it must be stored.
    const sub = await RawClient.connect(port, { clientId: 'keeper', clean: false });
    await sub.subscribe('fill/#', 1);
    await sub.end();

    const pub = await RawClient.connect(port, { protocolVersion: 5, clientId: 'filler' });
    const payload = Buffer.alloc(60_000, 7);
    const codes: number[] = [];
    for (let i = 1; i <= 40 && !codes.includes(0x97); i++) {
      pub.publish('fill/x', payload, 1, { packetId: i });
      codes.push((await pub.expect(PacketType.PUBACK)).reasonCode);
    }
    assert.ok(codes.includes(0x97), `no 0x97 after ${codes.length} messages: ${codes}`);
    const accepted = codes.filter((c) => c === 0).length;
    assert.ok(accepted > 0, 'some messages fit before the store was full');

    const v3 = await RawClient.connect(port, { clientId: 'filler-3' });
    v3.publish('fill/y', payload, 1, { packetId: 1 });
    await v3.expectClose(); // no PUBACK: the client will send it again after reconnecting

    // The broker is still up for everyone else, and what it acknowledged is still there.
    const bystander = await RawClient.connect(port, { protocolVersion: 5 });
    bystander.send({ type: PacketType.PINGREQ });
    await bystander.expect(PacketType.PINGRESP);
    const back = await RawClient.open(port);
    back.send({ type: PacketType.CONNECT, protocolVersion: 4, clean: false, keepAlive: 0, clientId: 'keeper' });
    assert.equal((await back.expect(PacketType.CONNACK)).sessionPresent, true);
    for (let i = 0; i < accepted; i++) {
      const p = await back.expect(PacketType.PUBLISH);
      back.send({ type: PacketType.PUBACK, packetId: p.packetId, reasonCode: 0 });
    }
    for (const c of [pub, bystander, back]) c.destroy();
  } finally {
    await broker.close();
  }
});

test('a data directory that cannot be opened stops the broker with a message', async () => {
  const notADir = join(root, 'a-file');
  writeFileSync(notADir, 'not a directory');
  assert.throws(() => new Broker({ dataDir: notADir }), /cannot create the data directory|cannot open the store/);

  const child = spawn(process.execPath, [main, '--port', '0', '--data-dir', notADir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const [code] = await within(once(child, 'exit'), 'petrel to exit', 10_000);
  assert.equal(code, 1);
  assert.match(err, /data directory/);
});

test('a data directory in use by another broker is refused; a stale lock from a crash is not', async () => {
  const dir = join(root, 'shared');
  const first = await startBrokerProcess(dir);
  try {
    const second = spawn(process.execPath, [main, '--port', '0', '--data-dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    second.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const [code] = await within(once(second, 'exit'), 'the second petrel to exit', 10_000);
    assert.equal(code, 1);
    assert.match(err, new RegExp(`in use by another process \\(pid ${first.child.pid}`));
  } finally {
    await first.kill(); // SIGKILL leaves its lock file behind
  }
  const again = await startBrokerProcess(dir);
  assert.equal(await again.stop(), 0);
});
