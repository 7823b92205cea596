// Reading ACL rules into one model, from either source: Mosquitto's `acl_file` syntax (so a
// Mosquitto user brings their file over unchanged) or the structured rules of Petrel's config
// file. Both produce the same plain data, an `Acl`: a list of entries plus warnings worth
// logging. Evaluating an Acl is `acl.ts`'s business.

import { readFile } from 'node:fs/promises';
import { topicFilterError } from '../protocol/topic.js';

/** What a rule grants: `read` is receiving (subscribe and delivery), `write` is publishing. */
export type AclAccess = 'read' | 'write' | 'readwrite' | 'deny';

const ACCESS_WORDS: readonly string[] = ['read', 'write', 'readwrite', 'deny'];

/**
 * Who an entry applies to: `anonymous` clients (no username), one `user`, or every client
 * (`pattern`, where a level that is exactly `%c` or `%u` is replaced by the client id or username).
 */
export type AclScope = 'anonymous' | 'user' | 'pattern';

export interface AclEntry {
  readonly scope: AclScope;
  /** The username, for scope `user` only. */
  readonly user: string | undefined;
  readonly access: AclAccess;
  /** A valid MQTT topic filter (wildcards allowed). */
  readonly topic: string;
  /** Where the entry came from, for messages: `file:line` or `source[index]`. */
  readonly origin: string;
}

/** A set of rules, as plain frozen data. Once an ACL is configured, what no rule allows is denied. */
export interface Acl {
  readonly source: string;
  readonly entries: readonly AclEntry[];
  /** Things that are accepted but probably not what the author meant; for the log. */
  readonly warnings: readonly string[];
}

/** One rule of the structured form (the `acl` array of Petrel's YAML config). */
export interface AclRule {
  /** The rule is for this username only. */
  user?: string;
  /** The rule is for every client, with `%c`/`%u` levels substituted. */
  pattern?: boolean;
  access: AclAccess;
  topic: string;
}

/** A bad ACL: `source` and `line` (acl_file) or `index` (structured rules) say where. */
export class AclError extends Error {
  constructor(
    message: string,
    readonly source: string,
    readonly line?: number,
    readonly index?: number,
  ) {
    super(message);
    this.name = 'AclError';
  }
}

/**
 * Parses Mosquitto's acl_file syntax: `user <name>` starts a user's block; `topic [access]
 * <topic>` adds a rule for that user (for anonymous clients before any `user` line); `pattern
 * [access] <topic>` adds a rule for every client; access is read, write, readwrite (the default)
 * or deny; the topic is everything after the access word, so it may contain spaces; lines whose
 * first non-blank character is `#` are comments. Throws an AclError naming file and line.
 */
export function parseAclFile(text: string, source = 'acl_file'): Acl {
  const entries: AclEntry[] = [];
  const warnings: string[] = [];
  // Lines end at \n; trimming each takes care of \r, blanks and a byte order mark (U+FEFF is
  // white space to trim()).
  const lines = text.split('\n');
  let user: string | undefined;
  for (let n = 0; n < lines.length; n++) {
    const where = `${source}:${n + 1}`;
    const fail: (why: string) => never = (why) => {
      throw new AclError(`${where}: ${why}`, source, n + 1);
    };
    const line = lines[n].trim();
    if (line.length === 0 || line.charCodeAt(0) === 0x23 /* # */) continue;
    const [keyword, rest] = firstWord(line);
    if (keyword === 'user') {
      if (rest.length === 0) fail("'user' needs a username");
      user = rest;
    } else if (keyword === 'topic' || keyword === 'pattern') {
      if (rest.length === 0) fail(`'${keyword}' needs a topic (${keyword} [read|write|readwrite|deny] <topic>)`);
      const [word, after] = firstWord(rest);
      let topic = after;
      let access: AclAccess = 'readwrite';
      if (topic.length === 0) {
        // A lone word is the topic, as in Mosquitto, even when it happens to be an access word.
        topic = word;
        if (ACCESS_WORDS.includes(word)) warnings.push(`${where}: '${word}' is taken as the topic, with readwrite access`);
      } else if (ACCESS_WORDS.includes(word)) {
        access = word as AclAccess;
      } else {
        fail(`unknown access '${word}' (expected read, write, readwrite or deny; a topic containing spaces needs one)`);
      }
      const bad = topicFilterError(topic);
      if (bad !== undefined) fail(`invalid topic filter '${topic}': ${bad}`);
      const scope: AclScope = keyword === 'pattern' ? 'pattern' : user === undefined ? 'anonymous' : 'user';
      substitutionWarnings(scope, topic, where, warnings, true);
      entries.push(Object.freeze({ scope, user: scope === 'user' ? user : undefined, access, topic, origin: where }));
    } else {
      fail(`unknown keyword '${keyword}' (expected user, topic or pattern)`);
    }
  }
  return makeAcl(source, entries, warnings);
}

/** Reads and parses an acl_file; errors name the path and line. */
export async function loadAclFile(path: string): Promise<Acl> {
  return parseAclFile(await readFile(path, 'utf8'), path);
}

const RULE_FIELDS = ['user', 'pattern', 'access', 'topic'];

/**
 * Builds an Acl from the structured form: `{ user?, pattern?, access, topic }` per rule. A rule
 * with `user` is that user's; with `pattern: true`, every client's (with `%c`/`%u` substitution);
 * with neither, anonymous clients' (like `topic` lines before any `user` line). Throws an
 * AclError naming the rule's index and the problem.
 */
export function aclFromRules(rules: unknown, source = 'acl'): Acl {
  if (!Array.isArray(rules)) throw new AclError(`${source}: expected an array of rules`, source);
  const entries: AclEntry[] = [];
  const warnings: string[] = [];
  for (let i = 0; i < rules.length; i++) {
    const where = `${source}[${i}]`;
    const fail: (why: string) => never = (why) => {
      throw new AclError(`${where}: ${why}`, source, undefined, i);
    };
    const rule: unknown = rules[i];
    if (typeof rule !== 'object' || rule === null || Array.isArray(rule)) {
      fail('expected an object { user?, pattern?, access, topic }');
    }
    const r = rule as Record<string, unknown>;
    for (const key of Object.keys(r)) {
      if (!RULE_FIELDS.includes(key)) fail(`unknown field '${key}' (expected user, pattern, access, topic)`);
    }
    const { user, pattern, access, topic } = r;
    if (access === undefined) fail('access is missing (read, write, readwrite or deny)');
    if (typeof access !== 'string' || !ACCESS_WORDS.includes(access)) {
      fail(`access must be read, write, readwrite or deny, not ${JSON.stringify(access)}`);
    }
    if (typeof topic !== 'string') fail(`topic must be a string, not ${JSON.stringify(topic)}`);
    const bad = topicFilterError(topic as string);
    if (bad !== undefined) fail(`invalid topic filter ${JSON.stringify(topic)}: ${bad}`);
    if (user !== undefined && (typeof user !== 'string' || user.length === 0)) {
      fail(`user must be a non-empty string, not ${JSON.stringify(user)}`);
    }
    if (pattern !== undefined && typeof pattern !== 'boolean') fail(`pattern must be true or false, not ${JSON.stringify(pattern)}`);
    if (pattern === true && user !== undefined) fail("a rule has either 'user' or 'pattern: true', not both");
    const scope: AclScope = pattern === true ? 'pattern' : user === undefined ? 'anonymous' : 'user';
    // An explicit `pattern: true` is how the structured form says "every client", so a pattern
    // without %c/%u is no mistake here.
    substitutionWarnings(scope, topic as string, where, warnings, false);
    entries.push(
      Object.freeze({ scope, user: user as string | undefined, access: access as AclAccess, topic: topic as string, origin: where }),
    );
  }
  return makeAcl(source, entries, warnings);
}

function makeAcl(source: string, entries: AclEntry[], warnings: string[]): Acl {
  if (entries.length === 0) warnings.push(`${source}: no rules, so every client is denied everything`);
  return Object.freeze({ source, entries: Object.freeze(entries), warnings: Object.freeze(warnings) });
}

/** Splits off the first word (separated by spaces or tabs); the rest comes back trimmed. */
function firstWord(s: string): [string, string] {
  const m = /[ \t]/.exec(s);
  return m === null ? [s, ''] : [s.slice(0, m.index), s.slice(m.index + 1).trim()];
}

/**
 * Substitution happens only in patterns and only for a level that is exactly `%c` or `%u`
 * (Mosquitto 2 rules); anything else is taken literally, which is rarely what was meant.
 */
function substitutionWarnings(scope: AclScope, topic: string, where: string, out: string[], warnPlain: boolean): void {
  let whole = false;
  for (const level of topic.split('/')) {
    if (level === '%c' || level === '%u') {
      whole = true;
      if (scope !== 'pattern') out.push(`${where}: '${level}' is substituted only in patterns; here it is literal`);
    } else if (level.includes('%c') || level.includes('%u')) {
      out.push(`${where}: '${level}' is literal: a substitution must be a whole level ('%c' or '%u')`);
    }
  }
  if (scope === 'pattern' && !whole && warnPlain) {
    out.push(`${where}: pattern '${topic}' has no %c or %u level; it applies to every client as written`);
  }
}
