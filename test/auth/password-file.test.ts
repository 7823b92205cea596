// Password files (src/auth/password-file.ts): files written by the real mosquitto_passwd (see
// fixtures/mosquitto-passwd.README.md for their users and passwords), our own `$7$` output,
// SCRAM lines, and rewriting a file without disturbing its other lines.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import {
  deleteUser, formatScramCredentials, hashPassword, loadPasswordFile, makeScramCredentials, parsePasswordFile,
  PBKDF2_DEFAULT_ITERATIONS, saslPrep, scramCredentials, serializePasswordFile, setUser, verifyPassword,
} from '../../src/auth/password-file.js';

// Fixtures are not compiled: find them next to the sources, whether the tests run from dist/ or
// from another output directory started in the repository root.
const FIXTURES = [
  fileURLToPath(new URL('../../../test/auth/fixtures/', import.meta.url)),
  join(process.cwd(), 'test/auth/fixtures/'),
].find((dir) => existsSync(join(dir, 'mosquitto-passwd.txt')));
function fixture(name: string): string {
  assert.ok(FIXTURES !== undefined, 'test/auth/fixtures not found (run from the repository root)');
  return join(FIXTURES, name);
}

const tmp = mkdtempSync(join(tmpdir(), 'petrel-passwd-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('a file written by mosquitto_passwd ($7$): right passwords pass, anything else fails', async () => {
  const db = await loadPasswordFile(fixture('mosquitto-passwd.txt'));
  const right: [string, string][] = [['alice', 'correct horse battery staple'], ['bob', 'p@ss:wörd'], ['émile', 'x']];
  for (const [user, password] of right) {
    assert.equal(await verifyPassword(db, user, Buffer.from(password)), true, user);
    assert.equal(await verifyPassword(db, user, password), true, `${user} (string)`);
  }
  const wrong: [string, string][] = [
    ['alice', 'correct horse battery stapl'], ['alice', 'correct horse battery staple\n'], ['Alice', 'correct horse battery staple'],
    ['bob', 'p@ss:word'], ['émile', 'X'], ['émile', ''], ['mallory', 'x'], ['', 'x'],
  ];
  for (const [user, password] of wrong) assert.equal(await verifyPassword(db, user, Buffer.from(password)), false, `${user}/${password}`);
  // Unknown users are checked against a dummy at the iteration count the file uses (Mosquitto's 101).
  assert.equal(db.dummy.iterations, 101);
});

test('a legacy file written with mosquitto_passwd -H sha512 ($6$)', async () => {
  const db = await loadPasswordFile(fixture('mosquitto-passwd-sha512.txt'));
  assert.equal(await verifyPassword(db, 'carol', Buffer.from('legacy secret')), true);
  assert.equal(await verifyPassword(db, 'dave', Buffer.from('hunter2')), true);
  assert.equal(await verifyPassword(db, 'carol', Buffer.from('hunter2')), false);
  assert.equal(await verifyPassword(db, 'dave', Buffer.from('hunter')), false);
  assert.equal(db.dummy.iterations, PBKDF2_DEFAULT_ITERATIONS, 'no $7$ lines: the default cost');
});

test('our $7$ has the tool\'s layout and reproduces its hash from the same salt and iterations', () => {
  const line = readFileSync(fixture('mosquitto-passwd.txt'), 'utf8').split('\n')[0]!;
  const [, , iterations, salt] = line.slice('alice:'.length).split('$');
  const ours = hashPassword('correct horse battery staple', { iterations: Number(iterations), salt: Buffer.from(salt!, 'base64') });
  assert.equal(`alice:${ours}`, line);

  const fresh = hashPassword(Buffer.from('secret'));
  const m = /^\$7\$(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+={0,2})$/.exec(fresh);
  assert.ok(m, fresh);
  assert.equal(Number(m[1]), PBKDF2_DEFAULT_ITERATIONS);
  assert.ok(PBKDF2_DEFAULT_ITERATIONS >= 101_000);
  // Mosquitto accepts exactly a 12-byte salt; its hash is 64 bytes, like ours.
  assert.equal(Buffer.from(m[2]!, 'base64').length, 12);
  assert.equal(Buffer.from(m[3]!, 'base64').length, 64);
  assert.notEqual(hashPassword('secret'), fresh, 'a fresh salt every time');
});

test('our $7$ entries verify, and verification leaves the event loop free', async () => {
  const db = parsePasswordFile(`alice:${hashPassword('secret')}\n`, 'inline');
  let turns = 0;
  let running = true;
  const spin = (): void => {
    turns++;
    if (running) setImmediate(spin);
  };
  setImmediate(spin);
  const ok = await verifyPassword(db, 'alice', Buffer.from('secret'));
  running = false;
  assert.equal(ok, true);
  assert.equal(await verifyPassword(db, 'alice', Buffer.from('Secret')), false);
  assert.ok(turns > 1, `the event loop turned ${turns} times during a ${PBKDF2_DEFAULT_ITERATIONS}-iteration PBKDF2`);
});

test('an unknown user costs about what a known one does', async () => {
  const db = parsePasswordFile(`alice:${hashPassword('secret', { iterations: 200_000 })}\n`, 'inline');
  assert.equal(db.dummy.iterations, 200_000);
  const time = async (user: string): Promise<number> => {
    const start = performance.now();
    await verifyPassword(db, user, Buffer.from('guess'));
    return performance.now() - start;
  };
  const known = await time('alice');
  const unknown = await time('nobody');
  // Loose bounds: the same work, give or take a noisy machine.
  assert.ok(unknown > known / 3 && unknown < known * 3, `known ${known.toFixed(1)} ms, unknown ${unknown.toFixed(1)} ms`);
});

test('malformed lines are refused with the file name and line number', () => {
  const good = hashPassword('x', { iterations: 1 });
  const scram = formatScramCredentials('SCRAM-SHA-256', makeScramCredentials('x', 'SCRAM-SHA-256', { iterations: 1 }));
  const cases: [string, RegExp][] = [
    ['alice', /expected username:hash/],
    [`:${good}`, /expected username:hash/],
    ['alice:secret', /plaintext passwords are refused/],
    ['alice:', /plaintext/],
    ['alice:$7$101$abc', /fields/],
    ['alice:$7$0$CrbydxTusO8G3hjo$AAAA', /iteration count/],
    ['alice:$7$1x$CrbydxTusO8G3hjo$AAAA', /iteration count/],
    ['alice:$7$101$CrbydxTusO8G3hjo$AAAA', /hash is 3 bytes, expected 64/],
    ['alice:$7$101$not*base64$AAAA', /salt is not base64/],
    ['alice:$6$CrbydxTusO8G3hjo', /fields/],
    ['alice:$5$abc$def', /unknown hash type \$5\$/],
    [`alice:${good}\nalice:${good}`, /second password line/],
    [`alice:${scram}\nalice:${scram}`, /second SCRAM-SHA-256 line/],
    [scram.replace(/\$[^$]+$/, '$AAAA').replace(/^/, 'alice:'), /ServerKey is 3 bytes, expected 32/],
  ];
  for (const [text, why] of cases) {
    const lineNo = text.split('\n').length;
    assert.throws(() => parsePasswordFile(`# users\n\n${text}\n`, '/etc/petrel/passwd'), (err: Error) => {
      assert.match(err.message, new RegExp(`^/etc/petrel/passwd:${lineNo + 2}: `), text);
      assert.match(err.message, why, text);
      return true;
    });
  }
});

test('comments, blank lines and CRLF are allowed; a rewrite keeps every other line as it was', () => {
  const text = [
    '# broker users',
    readFileSync(fixture('mosquitto-passwd.txt'), 'utf8').trimEnd(),
    '',
    '  # indented comment',
  ].join('\n') + '\n';
  const db = parsePasswordFile(text.replace(/\n/g, '\r\n').replace(/\r\n$/, '\n'), 'crlf');
  assert.deepEqual([...db.users.keys()], ['alice', 'bob', 'émile']);
  assert.equal(serializePasswordFile(parsePasswordFile(text)), text);

  const scram256 = formatScramCredentials('SCRAM-SHA-256', makeScramCredentials('pw', 'SCRAM-SHA-256', { iterations: 1 }));
  const scram512 = formatScramCredentials('SCRAM-SHA-512', makeScramCredentials('pw', 'SCRAM-SHA-512', { iterations: 1 }));
  const bobHash = hashPassword('new', { iterations: 1 });
  const withScram = setUser(parsePasswordFile(text), 'bob', [bobHash, scram256, scram512]);
  const lines = serializePasswordFile(withScram).split('\n');
  assert.equal(lines[0], '# broker users');
  assert.equal(lines[1], text.split('\n')[1], 'alice untouched');
  assert.deepEqual(lines.slice(2, 5), [`bob:${bobHash}`, `bob:${scram256}`, `bob:${scram512}`], 'bob where bob was');
  assert.equal(lines[5], text.split('\n')[3], 'émile untouched');
  assert.deepEqual(lines.slice(6), ['', '  # indented comment', '']);

  // Setting bob again without SCRAM drops his SCRAM lines (they would accept the old password).
  const plain = setUser(withScram, 'bob', [bobHash]);
  assert.equal(scramCredentials(plain, 'bob', 'SCRAM-SHA-256'), undefined);
  assert.equal(serializePasswordFile(plain).split('\n').filter((l) => l.startsWith('bob:')).length, 1);

  const gone = deleteUser(withScram, 'bob');
  assert.ok(!serializePasswordFile(gone).includes('bob:'));
  assert.deepEqual([...gone.users.keys()], ['alice', 'émile']);
  const added = setUser(gone, 'zoe', [bobHash]);
  assert.ok(serializePasswordFile(added).endsWith(`  # indented comment\nzoe:${bobHash}\n`), 'a new user goes at the end');

  for (const bad of ['', 'a:b', '#root', ' alice', 'a\nb']) assert.throws(() => setUser(gone, bad, [bobHash]), /user name/, JSON.stringify(bad));
  assert.throws(() => setUser(gone, 'zoe', ['plaintext']), /plaintext/);
});

test('SCRAM lines round-trip and give the credentials back; they do not count as a password', async () => {
  const creds = makeScramCredentials('pw', 'SCRAM-SHA-512');
  assert.equal(creds.salt.length, 16);
  assert.equal(creds.iterations, 4096);
  const line = formatScramCredentials('SCRAM-SHA-512', creds);
  assert.match(line, /^\$scram-sha-512\$4096\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  const db = parsePasswordFile(`carol:${line}\n`);
  assert.deepEqual(scramCredentials(db, 'carol', 'SCRAM-SHA-512'), creds);
  assert.equal(scramCredentials(db, 'carol', 'SCRAM-SHA-256'), undefined);
  assert.equal(scramCredentials(db, 'nobody', 'SCRAM-SHA-512'), undefined);
  assert.equal(await verifyPassword(db, 'carol', Buffer.from('pw')), false, 'no $7$ line, no plain login');
});

test('SCRAM passwords are prepared with SASLprep', () => {
  assert.equal(saslPrep('pencil'), 'pencil');
  assert.equal(saslPrep('pen\u00ADcil'), 'pencil', 'soft hyphen maps to nothing');
  assert.equal(saslPrep('a\u00A0b'), 'a b', 'no-break space maps to space');
  assert.equal(saslPrep('\u2168'), 'IX', 'NFKC');
  assert.throws(() => saslPrep('a\u0007b'), /control/);
  assert.throws(() => saslPrep('\u00AD'), /empty/);
  const salt = Buffer.alloc(16, 1);
  assert.deepEqual(
    makeScramCredentials('pen\u00ADcil', 'SCRAM-SHA-256', { salt, iterations: 2 }),
    makeScramCredentials('pencil', 'SCRAM-SHA-256', { salt, iterations: 2 }),
  );
});

test('loadPasswordFile names the file when it cannot read or parse it', async () => {
  await assert.rejects(loadPasswordFile(join(tmp, 'missing')), (err: Error) => err.message.startsWith(`cannot read password file ${join(tmp, 'missing')}: `));
  const bad = join(tmp, 'bad');
  writeFileSync(bad, 'alice:$7$101$CrbydxTusO8G3hjo$AAAA\n');
  await assert.rejects(loadPasswordFile(bad), new RegExp(`^Error: ${bad}:1: user "alice": hash is 3 bytes`));
});
