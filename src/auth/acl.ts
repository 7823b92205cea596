// Authorization by ACL: may this client publish to a topic, subscribe to a filter, receive a
// message on a topic? Rules come from Mosquitto's acl_file or from the config file (see
// acl-parse.ts); this file evaluates them, on every PUBLISH and every delivery, so it is built
// for that: an Acl is compiled once into hash maps and small tries, a client's view of it once
// per connection (`compileFor`), and a check splits its topic at most once and allocates nothing else.
//
// Semantics, as in Mosquitto unless said otherwise:
// - A client gets its user's rules (or, without a username, the anonymous rules; a username
//   without rules of its own gets none of those) plus every pattern rule.
// - A matching `deny` wins over any allow; no matching allow means denied.
//   (Mosquitto lets a user's allow win over a pattern's deny, because it stops at the first
//   match in the user's list; here any deny wins, wherever it is written.)
// - Publish and receive match the topic name against rule filters. Subscribe asks whether a rule
//   covers the whole filter: `a/#` is allowed by `a/#` or `#`, not by `a/b`; and a deny refuses
//   a subscription only if it covers the whole filter too, so `a/#` beside `deny a/secret` is
//   allowed and the messages on `a/secret` are refused at delivery (canReceive). Coverage is by
//   one rule at a time, level by level: `a` plus `a/+/#` together do not cover `a/#`.
// - [MQTT-4.7.2-1] `#` and `+` at the first level never match a topic starting with `$`, so
//   `$SYS/...` is reachable only through a rule that names it. Nobody publishes to `$` topics.

import { hasWildcard, parseSharedFilter, SHARE_PREFIX, topicFilterError } from '../protocol/topic.js';
import type { Acl, AclAccess, AclEntry } from './acl-parse.js';

export { AclError, aclFromRules, loadAclFile, parseAclFile } from './acl-parse.js';
export type { Acl, AclAccess, AclEntry, AclRule, AclScope } from './acl-parse.js';

/** The identity the rules are written against. `username` is undefined when CONNECT had none. */
export interface AclClient {
  readonly clientId: string;
  readonly username: string | undefined;
}

/** One client's view of an Acl; make it once per connection with `compileFor`. */
export interface ClientAcl {
  /** May the client publish to this topic name? */
  canPublish(topic: string): boolean;
  /** May the client subscribe to this filter (wildcards and `$share/group/` allowed)? */
  canSubscribe(filter: string): boolean;
  /** May a message on this topic name be delivered to the client? */
  canReceive(topic: string): boolean;
}

const READ = 1;
const WRITE = 2;
const DENY = 4;
const BITS: Record<AclAccess, number> = { read: READ, write: WRITE, readwrite: READ | WRITE, deny: DENY };
const DOLLAR = 0x24;

/** A trie of wildcard rules, one level per node; `+` and `#` are children like any level. */
interface Node {
  /** Access of the rules ending at this node, OR-ed. */
  bits: number;
  children: Map<string, Node> | undefined;
}

/** Rules without wildcards by exact topic; the others in a trie. */
interface RuleSet {
  readonly exact: Map<string, number>;
  wild: Node | undefined;
}

/** What one client is subject to: up to three rule sets, whose matching bits are OR-ed. */
interface View {
  /** A deny pattern could not be narrowed to this client (see `substitute`): nothing is allowed. */
  readonly denyAll: boolean;
  readonly sets: readonly RuleSet[];
  client?: ClientAcl;
}

const SUBST_C = 1;
const SUBST_U = 2;

/** A pattern with `%c`/`%u` levels, substituted per client. */
interface Template {
  readonly levels: readonly string[];
  /** Per level: 0, SUBST_C or SUBST_U. */
  readonly subst: readonly number[];
  readonly bits: number;
  readonly usesUsername: boolean;
  readonly wildcard: boolean;
}

interface Compiled {
  readonly users: Map<string, View>;
  readonly anonymous: View;
  /** For a username without rules of its own: the plain patterns only. */
  readonly others: View;
  readonly templates: readonly Template[];
  /** Views of clients, for the convenience functions; checked against the identity on use. */
  readonly byClient: WeakMap<AclClient, { clientId: string; username: string | undefined; view: View }>;
}

const compiledAcls = new WeakMap<Acl, Compiled>();

/**
 * The client's view of `acl`: substitution of `%c`/`%u` happens here, once. A view belongs to
 * that Acl: after a reload, make a new one from the new Acl.
 */
export function compileFor(acl: Acl, client: AclClient): ClientAcl {
  const view = viewFor(compiled(acl), client);
  return (view.client ??= clientAcl(view));
}

/** Like `compileFor(acl, client).canPublish(topic)`; reuses the view while `client` is the same object. */
export function canPublish(acl: Acl, client: AclClient, topic: string): boolean {
  return publishAllowed(cachedView(acl, client), topic);
}

/** Like `compileFor(acl, client).canSubscribe(filter)`. */
export function canSubscribe(acl: Acl, client: AclClient, filter: string): boolean {
  return subscribeAllowed(cachedView(acl, client), filter);
}

/** Like `compileFor(acl, client).canReceive(topic)`. */
export function canReceive(acl: Acl, client: AclClient, topic: string): boolean {
  return allowed(cachedView(acl, client), topic, READ);
}

function clientAcl(view: View): ClientAcl {
  return {
    canPublish: (topic) => publishAllowed(view, topic),
    canSubscribe: (filter) => subscribeAllowed(view, filter),
    canReceive: (topic) => allowed(view, topic, READ),
  };
}

function publishAllowed(view: View, topic: string): boolean {
  // `$` topics are the server's ([MQTT-4.7.2-1] and the note after it): no rule opens them to clients.
  if (topic.charCodeAt(0) === DOLLAR) return false;
  return allowed(view, topic, WRITE);
}

function subscribeAllowed(view: View, filter: string): boolean {
  let inner = filter;
  if (filter.startsWith(SHARE_PREFIX)) {
    // A shared subscription receives what its inner filter matches [MQTT-4.8.2-1].
    const shared = parseSharedFilter(filter);
    if (typeof shared === 'string') return false;
    inner = shared.filter;
  }
  if (topicFilterError(inner) !== undefined) return false;
  return allowed(view, inner, READ);
}

/**
 * Whether `view` grants `need` on `topic` (a topic name, or a filter for subscribe): no deny
 * matches and some rule with that access does. (A filter with wildcards never hits the exact
 * map: its keys have none.)
 */
function allowed(view: View, topic: string, need: number): boolean {
  if (view.denyAll) return false;
  const sets = view.sets;
  const dollar = topic.charCodeAt(0) === DOLLAR;
  let levels: string[] | undefined;
  let bits = 0;
  for (let k = 0; k < sets.length; k++) {
    const set = sets[k];
    const exact = set.exact.get(topic);
    if (exact !== undefined) bits |= exact;
    if (set.wild !== undefined) {
      levels ??= topic.split('/');
      bits |= covering(set.wild, levels, 0, dollar);
    }
    if ((bits & DENY) !== 0) return false;
  }
  return (bits & need) !== 0;
}

/**
 * The access bits of the rules under `node` that cover `levels` from level `i` on: every topic
 * the filter matches, the rule matches too. For a topic name (no wildcards) that is plain
 * matching. A `+` level is covered by `+` or `#`, a `#` level only by `#`.
 */
function covering(node: Node, levels: readonly string[], i: number, dollar: boolean): number {
  const children = node.children;
  if (i === levels.length) {
    // `x/#` also matches `x` itself [MQTT-4.7.1-2].
    const hash = children?.get('#');
    return hash === undefined ? node.bits : node.bits | hash.bits;
  }
  if (children === undefined) return 0;
  // [MQTT-4.7.2-1] A first level starting with `$` is matched only by that very level.
  const guarded = dollar && i === 0;
  const level = levels[i];
  let bits = 0;
  if (!guarded) {
    const hash = children.get('#');
    if (hash !== undefined) bits |= hash.bits;
  }
  if (level === '#') return bits;
  if (level !== '+') {
    const exact = children.get(level);
    if (exact !== undefined) bits |= covering(exact, levels, i + 1, dollar);
  }
  if (!guarded) {
    const plus = children.get('+');
    if (plus !== undefined) bits |= covering(plus, levels, i + 1, dollar);
  }
  return bits;
}

function compiled(acl: Acl): Compiled {
  let c = compiledAcls.get(acl);
  if (c === undefined) {
    c = compile(acl.entries);
    compiledAcls.set(acl, c);
  }
  return c;
}

function compile(entries: readonly AclEntry[]): Compiled {
  const anonymous = newSet();
  const plainPatterns = newSet();
  const userSets = new Map<string, RuleSet>();
  const templates: Template[] = [];
  for (const entry of entries) {
    const bits = BITS[entry.access];
    if (entry.scope === 'anonymous') {
      addRule(anonymous, entry.topic, bits);
    } else if (entry.scope === 'user') {
      const user = entry.user as string;
      let set = userSets.get(user);
      if (set === undefined) userSets.set(user, (set = newSet()));
      addRule(set, entry.topic, bits);
    } else {
      const levels = entry.topic.split('/');
      const subst = levels.map((l) => (l === '%c' ? SUBST_C : l === '%u' ? SUBST_U : 0));
      if (subst.every((s) => s === 0)) addRule(plainPatterns, entry.topic, bits);
      else {
        const usesUsername = subst.includes(SUBST_U);
        templates.push({ levels, subst, bits, usesUsername, wildcard: hasWildcard(entry.topic) });
      }
    }
  }
  const withPatterns = (set: RuleSet): View => ({ denyAll: false, sets: [set, plainPatterns].filter(nonEmpty) });
  const users = new Map<string, View>();
  for (const [user, set] of userSets) users.set(user, withPatterns(set));
  return {
    users,
    anonymous: withPatterns(anonymous),
    others: { denyAll: false, sets: [plainPatterns].filter(nonEmpty) },
    templates,
    byClient: new WeakMap(),
  };
}

function viewFor(c: Compiled, client: AclClient): View {
  const base = client.username === undefined ? c.anonymous : (c.users.get(client.username) ?? c.others);
  if (c.templates.length === 0) return base;
  const own = newSet();
  let denyAll = false;
  for (const template of c.templates) denyAll = substitute(template, client, own) || denyAll;
  return { denyAll, sets: nonEmpty(own) ? [...base.sets, own] : base.sets };
}

function cachedView(acl: Acl, client: AclClient): View {
  const c = compiled(acl);
  if (c.templates.length === 0) {
    return client.username === undefined ? c.anonymous : (c.users.get(client.username) ?? c.others);
  }
  const hit = c.byClient.get(client);
  if (hit !== undefined && hit.clientId === client.clientId && hit.username === client.username) return hit.view;
  const view = viewFor(c, client);
  c.byClient.set(client, { clientId: client.clientId, username: client.username, view });
  return view;
}

/**
 * Adds `template` with this client's values to `set`. Returns true when the client must be
 * denied everything.
 *
 * A value is substituted only when it fills exactly one level and names it literally: not
 * empty, without `+`, `#` or `/`, and not starting with `$` at the first level. Otherwise the
 * client could widen the rule by choosing its id (which it does freely) or username: client id
 * `#` would turn `devices/%c/#` into `devices/#`, `x/y` would reach into another client's
 * subtree, `$SYS` would open `$SYS/#` through `%c/#`. Mosquitto refuses such values the same way:
 * the rule does not apply. That is safe for an allow rule; for a deny rule, not applying it
 * would widen access, so the deny is widened instead to everything below the levels before the
 * value (`devices/#` for `devices/%c/config`), which contains whatever the value would have
 * named; at the first level that is everything.
 * A `%u` rule does not apply to a client without a username (nothing to substitute; as Mosquitto).
 */
function substitute(template: Template, client: AclClient, set: RuleSet): boolean {
  if (template.usesUsername && client.username === undefined) return false;
  const levels = template.levels.slice();
  for (let i = 0; i < levels.length; i++) {
    const kind = template.subst[i];
    if (kind === 0) continue;
    const value = kind === SUBST_C ? client.clientId : (client.username as string);
    if (!fillsOneLevel(value, i)) {
      if (template.bits !== DENY) return false;
      if (i === 0) return true;
      levels.length = i;
      levels.push('#');
      addLevels(set, levels, DENY, true);
      return false;
    }
    levels[i] = value;
  }
  addLevels(set, levels, template.bits, template.wildcard);
  return false;
}

function fillsOneLevel(value: string, level: number): boolean {
  if (value.length === 0) return false;
  if (level === 0 && value.charCodeAt(0) === DOLLAR) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x2f /* / */ || c === 0x2b /* + */ || c === 0x23 /* # */) return false;
  }
  return true;
}

const newSet = (): RuleSet => ({ exact: new Map(), wild: undefined });
const nonEmpty = (set: RuleSet): boolean => set.exact.size > 0 || set.wild !== undefined;

function addRule(set: RuleSet, topic: string, bits: number): void {
  if (hasWildcard(topic)) addLevels(set, topic.split('/'), bits, true);
  else set.exact.set(topic, (set.exact.get(topic) ?? 0) | bits);
}

function addLevels(set: RuleSet, levels: readonly string[], bits: number, wildcard: boolean): void {
  if (!wildcard) {
    const topic = levels.join('/');
    set.exact.set(topic, (set.exact.get(topic) ?? 0) | bits);
    return;
  }
  let node = (set.wild ??= { bits: 0, children: undefined });
  for (const level of levels) {
    let child = node.children?.get(level);
    if (child === undefined) {
      child = { bits: 0, children: undefined };
      (node.children ??= new Map()).set(level, child);
    }
    node = child;
  }
  node.bits |= bits;
}
