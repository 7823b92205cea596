// How a shared subscription group picks the member that gets a message (v5 section 4.8.2).
// Every strategy prefers a member that can take the message now (online, not congested) and
// falls back to any member, whose session then queues it.

import type { SharedGroup, SubscriptionEntry } from './topic-tree.js';

export type SharedStrategy = 'round-robin' | 'random' | 'sticky' | 'hash';
export const SHARED_STRATEGIES: readonly SharedStrategy[] = ['round-robin', 'random', 'sticky', 'hash'];

/**
 * Picks a member. `key` is what sticky and hash spread by: the publisher's client id (sticky)
 * or the topic (hash). `ready` says whether a member can take a message now.
 */
export type MemberPicker<S> = (group: SharedGroup<S>, key: string, ready: (subscriber: S) => boolean) => SubscriptionEntry<S> | undefined;

/** FNV-1a over the UTF-16 code units: cheap and stable, which is all spreading needs. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The first ready member from `start` on, wrapping round; the member at `start` if none is. */
function firstReadyFrom<S>(members: SubscriptionEntry<S>[], start: number, ready: (s: S) => boolean): number {
  const n = members.length;
  for (let k = 0; k < n; k++) {
    const i = (start + k) % n;
    if (ready(members[i].subscriber)) return i;
  }
  return start % n;
}

const roundRobin = <S>(group: SharedGroup<S>, _key: string, ready: (s: S) => boolean): SubscriptionEntry<S> | undefined => {
  const n = group.members.length;
  if (n === 0) return undefined;
  const i = firstReadyFrom(group.members, group.next % n, ready);
  group.next = (i + 1) % n;
  return group.members[i];
};

const random = <S>(group: SharedGroup<S>, _key: string, ready: (s: S) => boolean): SubscriptionEntry<S> | undefined => {
  const n = group.members.length;
  if (n === 0) return undefined;
  return group.members[firstReadyFrom(group.members, Math.floor(Math.random() * n), ready)];
};

/**
 * Sticky and hash: the same key goes to the same member while the group stays the same, so
 * one publisher's (or one topic's) messages keep their order. A member that is not ready is
 * passed over for the next one, which keeps the choice stable for everyone else.
 */
const byKey = <S>(group: SharedGroup<S>, key: string, ready: (s: S) => boolean): SubscriptionEntry<S> | undefined => {
  const n = group.members.length;
  if (n === 0) return undefined;
  return group.members[firstReadyFrom(group.members, hashString(key) % n, ready)];
};

export function pickerFor<S>(strategy: SharedStrategy): MemberPicker<S> {
  switch (strategy) {
    case 'random': return random;
    case 'sticky':
    case 'hash': return byKey;
    default: return roundRobin;
  }
}
