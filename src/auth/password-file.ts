// Password files: one `username:hash` per line, the format Mosquitto 2.x's mosquitto_passwd
// writes, so an existing Mosquitto file works unchanged.
//
//   alice:$7$101$<base64 salt>$<base64 hash>      PBKDF2-HMAC-SHA512, 64-byte hash (Mosquitto 2 default)
//   bob:$6$<base64 salt>$<base64 hash>            SHA-512(password || salt) (Mosquitto 1.6 and earlier)
//   alice:$scram-sha-256$<iterations>$<base64 salt>$<base64 StoredKey>$<base64 ServerKey>
//   alice:$scram-sha-512$<iterations>$<base64 salt>$<base64 StoredKey>$<base64 ServerKey>
//
// The two SCRAM kinds are ours: a user may have one line per kind. Mosquitto does not know them;
// it logs "Invalid password hash type" for such a line, drops that line only, and still accepts
// the user's `$7$` line, so a file with SCRAM lines remains usable by Mosquitto. No kind stores
// a plaintext password, and a plaintext line is refused rather than trusted.
//
// New `$7$` entries use a 12-byte salt (Mosquitto refuses any other salt length) and 101,000
// iterations. mosquitto_passwd 2.0 itself writes 101 iterations; Mosquitto reads any count, so
// our stronger entries still work there.

import { createHash, pbkdf2, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { scramDigest, scramKeys, type ScramCredentials, type ScramMechanism } from './scram.js';

export type { ScramCredentials, ScramMechanism } from './scram.js';

const pbkdf2Async = promisify(pbkdf2);

export const PBKDF2_DEFAULT_ITERATIONS = 101_000;
/** Mosquitto decodes exactly 12 bytes of salt for `$6$` and `$7$`. */
export const PASSWORD_SALT_BYTES = 12;
/** RFC 7677 asks for at least 4096; every SCRAM login costs the client this many rounds. */
export const SCRAM_DEFAULT_ITERATIONS = 4096;
export const SCRAM_SALT_BYTES = 16;
const HASH_BYTES = 64;
const MAX_ITERATIONS = 100_000_000;

export type PasswordHash =
  | { readonly kind: 'pbkdf2-sha512'; readonly iterations: number; readonly salt: Buffer; readonly hash: Buffer }
  | { readonly kind: 'sha512'; readonly salt: Buffer; readonly hash: Buffer };

/** What one line grants: a password hash, or SCRAM credentials for one mechanism. */
export type Credential =
  | { readonly kind: 'password'; readonly hash: PasswordHash }
  | { readonly kind: ScramMechanism; readonly credentials: ScramCredentials };

export interface UserEntry {
  readonly password?: PasswordHash;
  readonly scram: Partial<Record<ScramMechanism, ScramCredentials>>;
}

/** A line as read: comments and blank lines keep only their text, so a rewrite preserves them. */
export type PasswordLine =
  | { readonly text: string }
  | { readonly text: string; readonly username: string; readonly credential: Credential };

export interface PasswordDb {
  /** Where the lines came from, for messages. */
  readonly source: string;
  readonly lines: readonly PasswordLine[];
  readonly users: ReadonlyMap<string, UserEntry>;
  /**
   * Checked against when the user is unknown (or has only a cheap legacy hash), with the
   * iteration count most of the file uses, so a wrong name costs what a wrong password does.
   */
  readonly dummy: { readonly iterations: number; readonly salt: Buffer };
}

/** Parses a password file; throws an Error naming the source and line of the first bad line. */
export function parsePasswordFile(text: string, source = 'password file'): PasswordDb {
  const raw = text.split('\n');
  if (raw.length > 0 && raw[raw.length - 1] === '') raw.pop();
  const lines = raw.map((line, i): PasswordLine => {
    const content = line.endsWith('\r') ? line.slice(0, -1) : line;
    const trimmed = content.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return { text: content };
    const colon = content.indexOf(':');
    const where = `${source}:${i + 1}`;
    if (colon <= 0) throw new Error(`${where}: expected username:hash`);
    const username = content.slice(0, colon);
    try {
      return { text: content, username, credential: parseCredential(content.slice(colon + 1).trimEnd()) };
    } catch (err) {
      throw new Error(`${where}: user ${JSON.stringify(username)}: ${(err as Error).message}`);
    }
  });
  return buildDb(lines, source);
}

/** Reads and parses a password file. On failure the caller should keep the db it had. */
export async function loadPasswordFile(path: string): Promise<PasswordDb> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read password file ${path}: ${(err as Error).message}`);
  }
  return parsePasswordFile(text, path);
}

export function emptyPasswordDb(source = 'password file'): PasswordDb {
  return buildDb([], source);
}

/** Parses the part after `username:`. */
export function parseCredential(hash: string): Credential {
  const f = hash.split('$');
  if (f[0] !== '' || f.length < 3) {
    throw new Error('not a password hash (plaintext passwords are refused: hash the file with petrel passwd or mosquitto_passwd -U)');
  }
  switch (f[1]) {
    case '7':
      expectFields(f, 5);
      return {
        kind: 'password',
        hash: { kind: 'pbkdf2-sha512', iterations: iterations(f[2]), salt: base64(f[3], 'salt'), hash: base64(f[4], 'hash', HASH_BYTES) },
      };
    case '6':
      expectFields(f, 4);
      return { kind: 'password', hash: { kind: 'sha512', salt: base64(f[2], 'salt'), hash: base64(f[3], 'hash', HASH_BYTES) } };
    case 'scram-sha-256':
    case 'scram-sha-512': {
      expectFields(f, 6);
      const mechanism: ScramMechanism = f[1] === 'scram-sha-256' ? 'SCRAM-SHA-256' : 'SCRAM-SHA-512';
      const { length } = scramDigest(mechanism);
      return {
        kind: mechanism,
        credentials: {
          iterations: iterations(f[2]), salt: base64(f[3], 'salt'),
          storedKey: base64(f[4], 'StoredKey', length), serverKey: base64(f[5], 'ServerKey', length),
        },
      };
    }
    default:
      throw new Error(`unknown hash type $${f[1]}$ (known: $7$, $6$, $scram-sha-256$, $scram-sha-512$)`);
  }
}

function expectFields(f: string[], n: number): void {
  if (f.length !== n) throw new Error(`$${f[1]}$ hash has ${f.length - 1} fields, expected ${n - 1}`);
}

function iterations(text: string): number {
  if (!/^[1-9][0-9]*$/.test(text) || Number(text) > MAX_ITERATIONS) throw new Error(`bad iteration count ${JSON.stringify(text)}`);
  return Number(text);
}

/** Standard base64 (padding optional), canonical, non-empty, and of the expected length if given. */
function base64(text: string, what: string, length?: number): Buffer {
  const bytes = Buffer.from(text, 'base64');
  const canonical = /^[A-Za-z0-9+/]+={0,2}$/.test(text) && bytes.toString('base64').replace(/=+$/, '') === text.replace(/=+$/, '');
  if (!canonical || bytes.length === 0) throw new Error(`${what} is not base64`);
  if (length !== undefined && bytes.length !== length) throw new Error(`${what} is ${bytes.length} bytes, expected ${length}`);
  return bytes;
}

function buildDb(lines: PasswordLine[], source: string): PasswordDb {
  const users = new Map<string, { password?: PasswordHash; scram: Partial<Record<ScramMechanism, ScramCredentials>> }>();
  const counts = new Map<number, number>();
  lines.forEach((line, i) => {
    if (!('credential' in line)) return;
    let entry = users.get(line.username);
    if (entry === undefined) users.set(line.username, (entry = { scram: {} }));
    const c = line.credential;
    // Two lines of one kind for one user would leave it to chance which one counts.
    const duplicate = c.kind === 'password' ? entry.password !== undefined : entry.scram[c.kind] !== undefined;
    if (duplicate) throw new Error(`${source}:${i + 1}: user ${JSON.stringify(line.username)} has a second ${c.kind === 'password' ? 'password' : c.kind} line`);
    if (c.kind === 'password') {
      entry.password = c.hash;
      if (c.hash.kind === 'pbkdf2-sha512') counts.set(c.hash.iterations, (counts.get(c.hash.iterations) ?? 0) + 1);
    } else {
      entry.scram[c.kind] = c.credentials;
    }
  });
  let common = PBKDF2_DEFAULT_ITERATIONS;
  let best = 0;
  for (const [n, count] of counts) if (count > best) [common, best] = [n, count];
  return { source, lines, users, dummy: { iterations: common, salt: randomBytes(PASSWORD_SALT_BYTES) } };
}

/**
 * True when the password matches the user's `$7$` or `$6$` hash. Asynchronous (PBKDF2 runs on
 * the thread pool) so a CONNECT does not block the event loop; an unknown user costs the same.
 */
export async function verifyPassword(db: PasswordDb, username: string, password: Buffer | string): Promise<boolean> {
  const bytes = typeof password === 'string' ? Buffer.from(password, 'utf8') : password;
  const stored = db.users.get(username)?.password;
  if (stored?.kind === 'pbkdf2-sha512') {
    const derived = await pbkdf2Async(bytes, stored.salt, stored.iterations, stored.hash.length, 'sha512');
    return timingSafeEqual(derived, stored.hash);
  }
  // Unknown users, users with only SCRAM lines, and legacy `$6$` users (whose own check takes
  // microseconds) all pay for one PBKDF2 at the file's usual cost.
  await pbkdf2Async(bytes, db.dummy.salt, db.dummy.iterations, HASH_BYTES, 'sha512');
  if (stored === undefined) return false;
  return timingSafeEqual(createHash('sha512').update(bytes).update(stored.salt).digest(), stored.hash);
}

export interface HashOptions {
  iterations?: number;
  /** Only for tests and fixtures: a fresh random salt is what keeps equal passwords apart. */
  salt?: Buffer;
}

/** A `$7$` entry (without the `username:`) for this password. */
export function hashPassword(password: Buffer | string, opts: HashOptions = {}): string {
  const iterations = opts.iterations ?? PBKDF2_DEFAULT_ITERATIONS;
  const salt = opts.salt ?? randomBytes(PASSWORD_SALT_BYTES);
  const hash = pbkdf2Sync(password, salt, iterations, HASH_BYTES, 'sha512');
  return `$7$${iterations}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/**
 * RFC 4013 SASLprep as RFC 5802 asks of a password before hashing: non-ASCII spaces become
 * spaces, characters "commonly mapped to nothing" go, then NFKC; control, private-use and
 * non-character code points are refused. Not checked: the bidirectional rule and unassigned
 * code points. ASCII passwords are unchanged.
 */
export function saslPrep(password: string): string {
  const prepared = password
    .replace(/[\u00AD\u034F\u1806\u180B-\u180D\u200B-\u200D\u2060\uFE00-\uFE0F\uFEFF]/g, '')
    .replace(/[\u00A0\u1680\u2000-\u200A\u202F\u205F\u3000]/g, ' ')
    .normalize('NFKC');
  if (/[\p{Cc}\p{Co}\p{Cs}\uFDD0-\uFDEF\uFFF9-\uFFFF\u2FF0-\u2FFB\u200E\u200F\u202A-\u202E\u206A-\u206F\u{E0001}\u{E0020}-\u{E007F}]/u.test(prepared)) {
    throw new Error('the password has a character SCRAM does not allow (a control or private-use character)');
  }
  if (prepared === '') throw new Error('the password is empty');
  return prepared;
}

/** SCRAM credentials for a password: SaltedPassword, then StoredKey and ServerKey (RFC 5802 section 3). */
export function makeScramCredentials(password: Buffer | string, mechanism: ScramMechanism, opts: HashOptions = {}): ScramCredentials {
  const text = typeof password === 'string' ? password : new TextDecoder('utf-8', { fatal: true }).decode(password);
  const iterations = opts.iterations ?? SCRAM_DEFAULT_ITERATIONS;
  const salt = opts.salt ?? randomBytes(SCRAM_SALT_BYTES);
  const { digest, length } = scramDigest(mechanism);
  const salted = pbkdf2Sync(saslPrep(text), salt, iterations, length, digest);
  return { salt, iterations, ...scramKeys(mechanism, salted) };
}

/** A `$scram-sha-…$` entry (without the `username:`). */
export function formatScramCredentials(mechanism: ScramMechanism, c: ScramCredentials): string {
  const b = (x: Buffer): string => x.toString('base64');
  return `$${mechanism.toLowerCase()}$${c.iterations}$${b(c.salt)}$${b(c.storedKey)}$${b(c.serverKey)}`;
}

/** The user's SCRAM credentials for a mechanism, if the file has a line for them. */
export function scramCredentials(db: PasswordDb, username: string, mechanism: ScramMechanism): ScramCredentials | undefined {
  return db.users.get(username)?.scram[mechanism];
}

export function hasUser(db: PasswordDb, username: string): boolean {
  return db.users.has(username);
}

/** Refuses names the file format cannot hold or would read back differently. */
export function checkUsername(username: string): void {
  if (username === '') throw new Error('the user name is empty');
  if (username.includes(':')) throw new Error('a user name in a password file cannot contain ":"');
  if (/\p{Cc}/u.test(username)) throw new Error('a user name cannot contain control characters');
  if (username.trim() !== username) throw new Error('a user name cannot start or end with white space');
  if (username.startsWith('#')) throw new Error('a user name cannot start with "#" (the line would read as a comment)');
}

/**
 * Replaces every line of `username` with one line per hash, where its first line was (or at the
 * end); other lines, comments included, stay as they were. Returns a new db.
 */
export function setUser(db: PasswordDb, username: string, hashes: readonly string[]): PasswordDb {
  checkUsername(username);
  const fresh = hashes.map((hash): PasswordLine => ({ text: `${username}:${hash}`, username, credential: parseCredential(hash) }));
  const lines: PasswordLine[] = [];
  let placed = false;
  for (const line of db.lines) {
    if (!('username' in line) || line.username !== username) lines.push(line);
    else if (!placed) {
      lines.push(...fresh);
      placed = true;
    }
  }
  if (!placed) lines.push(...fresh);
  return buildDb(lines, db.source);
}

/** Removes every line of `username`. Returns a new db. */
export function deleteUser(db: PasswordDb, username: string): PasswordDb {
  return buildDb(db.lines.filter((line) => !('username' in line) || line.username !== username), db.source);
}

/** The file's text: every line as it was read or set, each ending in a newline. */
export function serializePasswordFile(db: PasswordDb): string {
  return db.lines.map((line) => `${line.text}\n`).join('');
}
