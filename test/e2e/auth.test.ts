// Authentication through the broker: a password file (Mosquitto's own and ours), anonymous
// access, the per-address failure limit, SCRAM over AUTH packets, and the library hooks chained
// after the files. Raw packets where the exact reason code matters, MQTT.js for the rest.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { formatScramCredentials, hashPassword, makeScramCredentials } from '../../src/auth/password-file.js';
import { PacketType, type ConnectPacket, type ProtocolVersion } from '../../src/protocol/index.js';
import { ScramClient } from '../auth/scram-client.js';
import { clientsEndedAfterEach, startBroker, uid, type TestBroker } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'petrel-auth-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const fixture = (name: string): string => fileURLToPath(new URL(`../../../test/auth/fixtures/${name}`, import.meta.url));
const opened = clientsEndedAfterEach();

/** A password file: Mosquitto's fixture (alice, bob) plus users of ours. */
function passwordFile(extra: string[] = []): string {
  const path = join(dir, `${uid('passwd-')}.txt`);
  writeFileSync(path, [readFileSync(fixture('mosquitto-passwd.txt'), 'utf8').trimEnd(), ...extra, ''].join('\n'));
  return path;
}

const FAST = { iterations: 1000 };
const ALICE = 'correct horse battery staple';

/** The CONNACK reason code (v5) or return code (3.x) a CONNECT gets. */
async function connackCode(port: number, connect: Partial<ConnectPacket> & { protocolVersion?: ProtocolVersion }): Promise<number> {
  const version = connect.protocolVersion ?? 5;
  const c = await opened.rawOpen(port, version);
  c.send({ type: PacketType.CONNECT, protocolVersion: version, clean: true, keepAlive: 0, clientId: uid('auth-'), ...connect });
  const connack = await c.expect(PacketType.CONNACK);
  if (connack.reasonCode !== 0) await c.expectClose();
  return connack.reasonCode;
}

const pw = (s: string): Buffer => Buffer.from(s);

describe('password file', () => {
  let b: TestBroker;
  const failures: { reasonCode: number; username?: string }[] = [];
  test('setup', async () => {
    b = await startBroker({ auth: { passwordFile: passwordFile([`carol:${hashPassword('s3cret', FAST)}`]) } });
    b.broker.on('authFailure', (e: { reasonCode: number; username?: string }) => failures.push(e));
  });
  after(() => b?.close());

  test('a Mosquitto password file works as it is, and so does a line of ours', async () => {
    assert.equal(await connackCode(b.port, { username: 'alice', password: pw(ALICE) }), 0);
    assert.equal(await connackCode(b.port, { username: 'bob', password: pw('p@ss:wörd') }), 0);
    assert.equal(await connackCode(b.port, { username: 'carol', password: pw('s3cret') }), 0);
  });

  test('a wrong password or an unknown user: v5 0x86, 3.1.1 return code 4; reported with the address', async () => {
    failures.length = 0;
    assert.equal(await connackCode(b.port, { username: 'alice', password: pw('wrong') }), 0x86);
    assert.equal(await connackCode(b.port, { username: 'nobody', password: pw(ALICE) }), 0x86);
    assert.equal(await connackCode(b.port, { protocolVersion: 4, username: 'alice', password: pw('wrong') }), 4);
    assert.deepEqual(failures.map((f) => [f.reasonCode, f.username]), [[0x86, 'alice'], [0x86, 'nobody'], [0x86, 'alice']]);
  });

  test('no credentials once a password file is set: v5 0x87, 3.1.1 return code 5', async () => {
    assert.equal(await connackCode(b.port, {}), 0x87);
    assert.equal(await connackCode(b.port, { protocolVersion: 4 }), 5);
  });

  test('MQTT.js with the right password is served', async () => {
    const c = await opened.js(b.url, 5, { username: 'alice', password: ALICE });
    await c.client.subscribeAsync('pw/t');
    await c.client.publishAsync('pw/t', 'hi');
    assert.equal((await c.nextMessage()).payload, 'hi');
  });
});

test('allowAnonymous: true next to a password file lets clients without a user name in, never a wrong password', async () => {
  const b = await startBroker({ auth: { passwordFile: passwordFile(), allowAnonymous: true } });
  try {
    assert.equal(await connackCode(b.port, {}), 0);
    assert.equal(await connackCode(b.port, { username: 'alice', password: pw('wrong') }), 0x86);
  } finally {
    await b.close();
  }
});

test('allowAnonymous: false without a password file refuses everyone without a certificate', async () => {
  const b = await startBroker({ auth: { allowAnonymous: false } });
  try {
    assert.equal(await connackCode(b.port, {}), 0x87);
    assert.equal(await connackCode(b.port, { username: 'x', password: pw('y') }), 0x87);
  } finally {
    await b.close();
  }
});

test('an address that failed maxFailuresPerMinute times is refused with 0x9F, even with the right password', async () => {
  const b = await startBroker({ auth: { passwordFile: passwordFile(), maxFailuresPerMinute: 3 } });
  try {
    for (let i = 0; i < 3; i++) assert.equal(await connackCode(b.port, { username: 'alice', password: pw(`guess${i}`) }), 0x86);
    assert.equal(await connackCode(b.port, { username: 'alice', password: pw(ALICE) }), 0x9f);
    assert.equal(await connackCode(b.port, { protocolVersion: 4, username: 'alice', password: pw(ALICE) }), 3);
  } finally {
    await b.close();
  }
});

test('a library authenticate hook runs after the password file, and both must allow', async () => {
  const seen: string[] = [];
  const b = await startBroker({
    auth: { passwordFile: passwordFile() },
    hooks: {
      authenticate: (ctx) => {
        seen.push(ctx.username ?? '');
        return ctx.username === 'alice' ? true : { reasonCode: 0x8a, reasonString: 'banned' };
      },
    },
  });
  try {
    assert.equal(await connackCode(b.port, { username: 'alice', password: pw(ALICE) }), 0);
    assert.equal(await connackCode(b.port, { username: 'bob', password: pw('p@ss:wörd') }), 0x8a);
    assert.equal(await connackCode(b.port, { username: 'alice', password: pw('wrong') }), 0x86);
    assert.deepEqual(seen, ['alice', 'bob'], 'the hook is not asked when the file already refused');
  } finally {
    await b.close();
  }
});

describe('SCRAM over AUTH', () => {
  let b: TestBroker;
  const scramLines = (user: string, password: string): string[] => (['SCRAM-SHA-256', 'SCRAM-SHA-512'] as const)
    .map((m) => `${user}:${formatScramCredentials(m, makeScramCredentials(password, m, FAST))}`);
  test('setup', async () => {
    b = await startBroker({ auth: { passwordFile: passwordFile(scramLines('dora', 'pencil')) } });
  });
  after(() => b?.close());

  /** Runs CONNECT → AUTH → AUTH → CONNACK; returns the CONNACK and the client. */
  async function exchange(mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512', user: string, password: string, tamper?: (final: string) => string) {
    const scram = new ScramClient(mechanism, user, password);
    const c = await opened.rawOpen(b.port, 5);
    c.send({
      type: PacketType.CONNECT, protocolVersion: 5, clean: true, keepAlive: 0, clientId: uid('scram-'),
      properties: { authenticationMethod: mechanism, authenticationData: Buffer.from(scram.first()) },
    });
    const first = await c.expect(PacketType.AUTH);
    assert.equal(first.reasonCode, 0x18, 'Continue authentication');
    assert.equal(first.properties?.authenticationMethod, mechanism);
    let final = scram.final(first.properties!.authenticationData!.toString());
    if (tamper !== undefined) final = tamper(final);
    c.send({ type: PacketType.AUTH, reasonCode: 0x18, properties: { authenticationMethod: mechanism, authenticationData: Buffer.from(final) } });
    const connack = await c.expect(PacketType.CONNACK);
    return { connack, scram, c };
  }

  for (const mechanism of ['SCRAM-SHA-256', 'SCRAM-SHA-512'] as const) {
    test(`${mechanism}: the full exchange, and the server proves it knows the key`, async () => {
      const { connack, scram, c } = await exchange(mechanism, 'dora', 'pencil');
      assert.equal(connack.reasonCode, 0);
      assert.equal(connack.properties?.authenticationMethod, mechanism);
      assert.ok(scram.verify(connack.properties!.authenticationData!.toString()), 'server signature verifies');
      // The session works, under the SCRAM user name.
      assert.deepEqual(await c.subscribe('scram/t', 1), [1]);
    });
  }

  test('a wrong password: CONNACK 0x86', async () => {
    const { connack, c } = await exchange('SCRAM-SHA-256', 'dora', 'not pencil');
    assert.equal(connack.reasonCode, 0x86);
    await c.expectClose();
  });

  test('an unknown user gets a server-first like anyone, then 0x86', async () => {
    const { connack } = await exchange('SCRAM-SHA-256', 'ghost', 'pencil');
    assert.equal(connack.reasonCode, 0x86);
  });

  test('a proof altered in flight: 0x86', async () => {
    const { connack } = await exchange('SCRAM-SHA-512', 'dora', 'pencil', (f) => f.replace(/p=(.)/, (_, ch: string) => `p=${ch === 'A' ? 'B' : 'A'}`));
    assert.equal(connack.reasonCode, 0x86);
  });

  test('an authentication method nobody offers: CONNACK 0x8C', async () => {
    assert.equal(await connackCode(b.port, { properties: { authenticationMethod: 'KERBEROS-V9' } }), 0x8c);
  });

  test('re-authentication on a live connection: AUTH 0x19, the same exchange, AUTH 0x00', async () => {
    const { connack, c } = await exchange('SCRAM-SHA-256', 'dora', 'pencil');
    assert.equal(connack.reasonCode, 0);
    const again = new ScramClient('SCRAM-SHA-256', 'dora', 'pencil');
    c.send({ type: PacketType.AUTH, reasonCode: 0x19, properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: Buffer.from(again.first()) } });
    const first = await c.expect(PacketType.AUTH);
    assert.equal(first.reasonCode, 0x18);
    c.send({
      type: PacketType.AUTH, reasonCode: 0x18,
      properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: Buffer.from(again.final(first.properties!.authenticationData!.toString())) },
    });
    const done = await c.expect(PacketType.AUTH);
    assert.equal(done.reasonCode, 0);
    assert.ok(again.verify(done.properties!.authenticationData!.toString()));
  });
});
