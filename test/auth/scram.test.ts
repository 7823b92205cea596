// SCRAM server (src/auth/scram.ts) against an independent client (./scram-client.ts) and the
// RFC 7677 test vector; then once through a real broker over a socket.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EnhancedAuthContext, EnhancedAuthResult } from '../../src/broker/hooks.js';
import { formatScramCredentials, makeScramCredentials, parsePasswordFile, scramCredentials } from '../../src/auth/password-file.js';
import { createScramAuthenticator, SCRAM_MECHANISMS, type ScramCredentials, type ScramMechanism } from '../../src/auth/scram.js';
import { deriveKeys, parseServerFirst, ScramClient } from './scram-client.js';

type Auth = ReturnType<typeof createScramAuthenticator>;

// RFC 7677 section 3: user "user", password "pencil".
const RFC7677 = {
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverNonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal: 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
};

const PASSWORD = 'correct horse';
const USERS = new Map<string, Map<ScramMechanism, ScramCredentials>>();
for (const user of ['alice', 'a,b=c', 'émile']) {
  USERS.set(user, new Map(SCRAM_MECHANISMS.map((m) => [m, makeScramCredentials(PASSWORD, m)] as const)));
}
const lookup = (user: string, m: ScramMechanism): ScramCredentials | undefined => USERS.get(user)?.get(m);

interface Run {
  state: Record<string, unknown>;
  step: number;
}

function context(run: Run, method: string, data: Buffer | string | undefined, extra: { username?: string; reauthenticate?: boolean } = {}): EnhancedAuthContext {
  return {
    client: { clientId: 'c1', username: extra.username, protocolVersion: 5, remoteAddress: '127.0.0.1' },
    method,
    data: typeof data === 'string' ? Buffer.from(data) : data,
    step: run.step++,
    reauthenticate: extra.reauthenticate ?? false,
    state: run.state,
  };
}

async function step(auth: Auth, run: Run, method: string, data: Buffer | string | undefined, extra = {}): Promise<EnhancedAuthResult> {
  return auth(context(run, method, data, extra));
}

function text(r: EnhancedAuthResult): string {
  assert.ok(r.outcome !== 'fail', `expected data, got ${JSON.stringify(r)}`);
  assert.ok(r.data !== undefined);
  return r.data.toString('utf8');
}

/** Runs the whole exchange as a client would, returning the last result and the client. */
async function exchange(auth: Auth, mechanism: ScramMechanism, user: string, password: string, extra: { username?: string; reauthenticate?: boolean } = {}) {
  const client = new ScramClient(mechanism, user, password);
  const run: Run = { state: {}, step: 0 };
  const first = await step(auth, run, mechanism, client.first(), extra);
  assert.equal(first.outcome, 'continue', JSON.stringify(first));
  const serverFirst = text(first);
  const last = await step(auth, run, mechanism, client.final(serverFirst), extra);
  return { client, serverFirst, last };
}

test('RFC 7677 vector: the independent client reproduces the published messages', () => {
  const client = new ScramClient('SCRAM-SHA-256', 'user', 'pencil', { nonce: 'rOprNGfwEbeRWgbNEkqO' });
  assert.equal(client.first(), RFC7677.clientFirst);
  assert.equal(client.final(RFC7677.serverFirst), RFC7677.clientFinal);
  assert.ok(client.verify(RFC7677.serverFinal));
  assert.ok(!client.verify('v=AAAA' + RFC7677.serverFinal.slice(6)));
});

test('RFC 7677 vector: our key derivation and server answer exactly as published', async () => {
  const salt = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');
  const creds = makeScramCredentials('pencil', 'SCRAM-SHA-256', { salt, iterations: 4096 });
  const keys = deriveKeys('SCRAM-SHA-256', 'pencil', salt, 4096);
  assert.deepEqual(creds.storedKey, keys.storedKey);
  assert.deepEqual(creds.serverKey, keys.serverKey);

  const auth = createScramAuthenticator(() => creds, { serverNonce: () => RFC7677.serverNonce });
  const run: Run = { state: {}, step: 0 };
  const first = await step(auth, run, 'SCRAM-SHA-256', RFC7677.clientFirst);
  assert.deepEqual(first, { outcome: 'continue', data: Buffer.from(RFC7677.serverFirst) });
  const last = await step(auth, run, 'SCRAM-SHA-256', RFC7677.clientFinal);
  assert.deepEqual(last, { outcome: 'success', data: Buffer.from(RFC7677.serverFinal), username: 'user' });
});

for (const mechanism of SCRAM_MECHANISMS) {
  test(`${mechanism}: a right password succeeds and the server proves it knows the key`, async () => {
    const auth = createScramAuthenticator(lookup);
    for (const user of USERS.keys()) {
      const { client, serverFirst, last } = await exchange(auth, mechanism, user, PASSWORD);
      assert.equal(last.outcome, 'success', JSON.stringify(last));
      assert.equal(last.outcome === 'success' && last.username, user);
      assert.ok(client.verify(text(last)), 'server signature verifies');
      // Server nonce: 18 random bytes, base64, after the client's.
      const sf = parseServerFirst(serverFirst);
      assert.equal(sf.nonce.slice(client.nonce.length).length, 24);
      assert.equal(sf.iterations, 4096);
    }
  });

  test(`${mechanism}: a wrong password fails with 0x86, or 0x87 when re-authenticating`, async () => {
    const auth = createScramAuthenticator(lookup);
    const { last } = await exchange(auth, mechanism, 'alice', 'wrong');
    assert.equal(last.outcome, 'fail');
    assert.equal(last.outcome === 'fail' && last.reasonCode, 0x86);
    const again = await exchange(auth, mechanism, 'alice', 'wrong', { username: 'alice', reauthenticate: true });
    assert.equal(again.last.outcome === 'fail' && again.last.reasonCode, 0x87);
    const ok = await exchange(auth, mechanism, 'alice', PASSWORD, { username: 'alice', reauthenticate: true });
    assert.equal(ok.last.outcome, 'success');
  });

  test(`${mechanism}: an unknown user gets a server-first of the same shape, stable per name, then 0x86`, async () => {
    const auth = createScramAuthenticator(lookup);
    const real = parseServerFirst((await exchange(auth, mechanism, 'alice', PASSWORD)).serverFirst);
    const a = await exchange(auth, mechanism, 'mallory', PASSWORD);
    const b = await exchange(auth, mechanism, 'mallory', PASSWORD);
    const c = await exchange(auth, mechanism, 'trudy', PASSWORD);
    const fake = parseServerFirst(a.serverFirst);
    assert.equal(fake.salt.length, real.salt.length);
    assert.equal(fake.iterations, real.iterations);
    assert.deepEqual(parseServerFirst(b.serverFirst).salt, fake.salt, 'same name, same salt');
    assert.notDeepEqual(parseServerFirst(c.serverFirst).salt, fake.salt, 'another name, another salt');
    for (const r of [a.last, b.last, c.last]) assert.deepEqual(r, { outcome: 'fail', reasonCode: 0x86, reasonString: 'SCRAM: invalid-proof' });
    const wrong = await exchange(auth, mechanism, 'alice', 'nope');
    assert.deepEqual(wrong.last, a.last, 'an unknown user and a wrong password look alike');
  });
}

test('a client-final with a tampered nonce is refused', async () => {
  const auth = createScramAuthenticator(lookup);
  const client = new ScramClient('SCRAM-SHA-256', 'alice', PASSWORD);
  const run: Run = { state: {}, step: 0 };
  const serverFirst = text(await step(auth, run, 'SCRAM-SHA-256', client.first()));
  const nonce = parseServerFirst(serverFirst).nonce;
  const r = await step(auth, run, 'SCRAM-SHA-256', client.final(serverFirst, { nonce: nonce.slice(0, -1) + (nonce.endsWith('A') ? 'B' : 'A') }));
  assert.equal(r.outcome, 'fail');
  assert.equal(r.outcome === 'fail' && r.reasonCode, 0x80);
  assert.match(r.outcome === 'fail' ? r.reasonString ?? '' : '', /nonce/);
});

test('malformed client-first messages fail with 0x80 and say why', async () => {
  const auth = createScramAuthenticator(lookup);
  const cases: [string, Buffer | string | undefined, RegExp][] = [
    ['no data', undefined, /no Authentication Data/],
    ['empty data', '', /no Authentication Data/],
    ['no gs2 header', 'n=alice,r=abc', /gs2/],
    ['unknown gs2 flag', 'x,,n=alice,r=abc', /gs2-cbind-flag/],
    ['attributes out of order', 'n,,r=abc,n=alice', /expected the user name/],
    ['no nonce', 'n,,n=alice', /expected the nonce/],
    ['empty nonce', 'n,,n=alice,r=', /nonce/],
    ['nonce with a non-printable', 'n,,n=alice,r=a b', /nonce/],
    ['bad saslname escape', 'n,,n=al=2Xice,r=abc', /invalid-username-encoding/],
    ['bare = in saslname', 'n,,n=a=b,r=abc', /invalid-username-encoding/],
    ['empty user name', 'n,,n=,r=abc', /invalid-username-encoding/],
    ['mandatory extension', 'n,,m=x,n=alice,r=abc', /extensions-not-supported/],
    ['bad extension', 'n,,n=alice,r=abc,zz', /extension/],
    ['not UTF-8', Buffer.from([0x6e, 0x2c, 0x2c, 0x6e, 0x3d, 0xff, 0x2c, 0x72, 0x3d, 0x61]), /UTF-8/],
    ['too long', `n,,n=alice,r=${'a'.repeat(5000)}`, /too long/],
    ['channel binding asked for', 'p=tls-unique,,n=alice,r=abc', /channel-binding-not-supported/],
  ];
  for (const [name, data, why] of cases) {
    const r = await step(auth, { state: {}, step: 0 }, 'SCRAM-SHA-256', data);
    assert.equal(r.outcome, 'fail', name);
    assert.equal(r.outcome === 'fail' && r.reasonCode, 0x80, name);
    assert.match(r.outcome === 'fail' ? r.reasonString ?? '' : '', why, name);
  }
});

test('malformed client-final messages fail with 0x80', async () => {
  const auth = createScramAuthenticator(lookup);
  const mutations: [string, (final: string) => string][] = [
    ['no proof', (f) => f.replace(/,p=.*$/, '')],
    ['proof not base64', (f) => f.replace(/,p=.*$/, ',p=***')],
    ['proof too short', (f) => f.replace(/,p=.*$/, ',p=AAAA')],
    ['channel binding not the gs2 header', (f) => f.replace('c=biws', 'c=eSws')],
    ['channel binding missing', (f) => f.replace('c=biws,', '')],
    ['attributes out of order', (f) => f.replace(/^c=biws,(r=[^,]*)/, '$1,c=biws')],
  ];
  for (const [name, mutate] of mutations) {
    const client = new ScramClient('SCRAM-SHA-256', 'alice', PASSWORD);
    const run: Run = { state: {}, step: 0 };
    const serverFirst = text(await step(auth, run, 'SCRAM-SHA-256', client.first()));
    const r = await step(auth, run, 'SCRAM-SHA-256', mutate(client.final(serverFirst)));
    assert.equal(r.outcome === 'fail' && r.reasonCode, 0x80, `${name}: ${JSON.stringify(r)}`);
  }
});

test('gs2 flag y (client could bind, thinks we cannot) is accepted with c=eSws', async () => {
  const auth = createScramAuthenticator(lookup);
  const client = new ScramClient('SCRAM-SHA-512', 'alice', PASSWORD, { gs2Header: 'y,,' });
  const run: Run = { state: {}, step: 0 };
  const serverFirst = text(await step(auth, run, 'SCRAM-SHA-512', client.first()));
  const final = client.final(serverFirst);
  assert.ok(final.startsWith('c=eSws,'));
  const r = await step(auth, run, 'SCRAM-SHA-512', final);
  assert.equal(r.outcome, 'success');
  assert.ok(client.verify(text(r)));
});

test('the SCRAM user must be the CONNECT User Name, and an authzid must name the same user', async () => {
  const auth = createScramAuthenticator(lookup);
  const other = await exchange(auth, 'SCRAM-SHA-256', 'alice', PASSWORD, { username: 'alice' });
  assert.equal(other.last.outcome, 'success');
  const client = new ScramClient('SCRAM-SHA-256', 'alice', PASSWORD);
  const mismatch = await step(auth, { state: {}, step: 0 }, 'SCRAM-SHA-256', client.first(), { username: 'bob' });
  assert.equal(mismatch.outcome === 'fail' && mismatch.reasonCode, 0x86);
  const reauth = await step(auth, { state: {}, step: 0 }, 'SCRAM-SHA-256', client.first(), { username: 'bob', reauthenticate: true });
  assert.equal(reauth.outcome === 'fail' && reauth.reasonCode, 0x87);

  const actAs = await step(auth, { state: {}, step: 0 }, 'SCRAM-SHA-256', 'n,a=bob,n=alice,r=abc');
  assert.equal(actAs.outcome === 'fail' && actAs.reasonCode, 0x87);
  const self = new ScramClient('SCRAM-SHA-256', 'a,b=c', PASSWORD, { gs2Header: 'n,a=a=2Cb=3Dc,' });
  const run: Run = { state: {}, step: 0 };
  const sf = text(await step(auth, run, 'SCRAM-SHA-256', self.first()));
  const done = await step(auth, run, 'SCRAM-SHA-256', self.final(sf));
  assert.equal(done.outcome === 'success' && done.username, 'a,b=c');
});

test('an asynchronous lookup (here: from a password file) works the same', async () => {
  const file = [
    `alice:${formatScramCredentials('SCRAM-SHA-256', makeScramCredentials(PASSWORD, 'SCRAM-SHA-256'))}`,
  ].join('\n');
  const db = parsePasswordFile(file, 'inline');
  const auth = createScramAuthenticator(async (user, m) => scramCredentials(db, user, m));
  assert.equal((await exchange(auth, 'SCRAM-SHA-256', 'alice', PASSWORD)).last.outcome, 'success');
  // No SCRAM-SHA-512 line: the user is unknown for that mechanism.
  assert.equal((await exchange(auth, 'SCRAM-SHA-512', 'alice', PASSWORD)).last.outcome, 'fail');
});

test('steps out of sequence and foreign methods are refused', async () => {
  const auth = createScramAuthenticator(lookup);
  const lone = await step(auth, { state: {}, step: 1 }, 'SCRAM-SHA-256', 'c=biws,r=x,p=AAAA');
  assert.equal(lone.outcome === 'fail' && lone.reasonCode, 0x80);
  const foreign = await step(auth, { state: {}, step: 0 }, 'PLAIN', 'x');
  assert.equal(foreign.outcome === 'fail' && foreign.reasonCode, 0x8c);

  // A finished exchange cannot be finished twice, nor switch mechanism midway.
  const client = new ScramClient('SCRAM-SHA-256', 'alice', PASSWORD);
  const run: Run = { state: {}, step: 0 };
  const sf = text(await step(auth, run, 'SCRAM-SHA-256', client.first()));
  const switched = await step(auth, { state: run.state, step: 1 }, 'SCRAM-SHA-512', client.final(sf));
  assert.equal(switched.outcome === 'fail' && switched.reasonCode, 0x80);
  const final = client.final(sf);
  assert.equal((await step(auth, { state: run.state, step: 1 }, 'SCRAM-SHA-256', final)).outcome, 'success');
  const replay = await step(auth, { state: run.state, step: 2 }, 'SCRAM-SHA-256', final);
  assert.equal(replay.outcome, 'fail');
});

test('through a broker: CONNECT, AUTH, CONNACK with the server signature, then re-authentication', { timeout: 15_000 }, async () => {
  // Imported here so that a broker that does not build fails this test only.
  const { startBroker, RawClient } = await import('../e2e/harness.js');
  const { PacketType } = await import('../../src/protocol/index.js');
  const b = await startBroker({ hooks: { enhancedAuth: createScramAuthenticator(lookup) } });
  try {
    const method = 'SCRAM-SHA-256';
    const client = new ScramClient(method, 'alice', PASSWORD);
    const raw = await RawClient.open(b.port, 5);
    raw.send({
      type: PacketType.CONNECT, protocolVersion: 5, clean: true, keepAlive: 0, clientId: 'scram-e2e',
      properties: { authenticationMethod: method, authenticationData: Buffer.from(client.first()) },
    });
    const challenge = await raw.expect(PacketType.AUTH);
    assert.equal(challenge.reasonCode, 0x18);
    assert.equal(challenge.properties?.authenticationMethod, method);
    const serverFirst = challenge.properties!.authenticationData!.toString();
    raw.send({ type: PacketType.AUTH, reasonCode: 0x18, properties: { authenticationMethod: method, authenticationData: Buffer.from(client.final(serverFirst)) } });
    const connack = await raw.expect(PacketType.CONNACK);
    assert.equal(connack.reasonCode, 0);
    assert.equal(connack.properties?.authenticationMethod, method);
    assert.ok(client.verify(connack.properties!.authenticationData!.toString()));

    const again = new ScramClient(method, 'alice', PASSWORD);
    raw.send({ type: PacketType.AUTH, reasonCode: 0x19, properties: { authenticationMethod: method, authenticationData: Buffer.from(again.first()) } });
    const challenge2 = await raw.expect(PacketType.AUTH);
    assert.equal(challenge2.reasonCode, 0x18);
    const final2 = again.final(challenge2.properties!.authenticationData!.toString());
    raw.send({ type: PacketType.AUTH, reasonCode: 0x18, properties: { authenticationMethod: method, authenticationData: Buffer.from(final2) } });
    const ok = await raw.expect(PacketType.AUTH);
    assert.equal(ok.reasonCode, 0);
    assert.ok(again.verify(ok.properties!.authenticationData!.toString()));
    raw.destroy();

    const bad = new ScramClient(method, 'alice', 'wrong');
    const raw2 = await RawClient.open(b.port, 5);
    raw2.send({
      type: PacketType.CONNECT, protocolVersion: 5, clean: true, keepAlive: 0, clientId: 'scram-e2e-bad',
      properties: { authenticationMethod: method, authenticationData: Buffer.from(bad.first()) },
    });
    const c2 = await raw2.expect(PacketType.AUTH);
    raw2.send({ type: PacketType.AUTH, reasonCode: 0x18, properties: { authenticationMethod: method, authenticationData: Buffer.from(bad.final(c2.properties!.authenticationData!.toString())) } });
    assert.equal((await raw2.expect(PacketType.CONNACK)).reasonCode, 0x86);
    await raw2.expectClose();
  } finally {
    await b.close();
  }
});
