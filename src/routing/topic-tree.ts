// The subscription tree: topic filters split into levels, `+` and `#` as their own branches.
// It maps a topic to the subscriptions that match it, calling a visitor for each, so a
// publish allocates nothing here beyond splitting its topic. It keeps a count per filter, so
// "first subscriber of a filter" and "last one gone" are events (the cluster replicates those).

import { parseSharedFilter, SHARE_PREFIX } from '../protocol/topic.js';
import { pickerFor } from './shared-strategies.js';

/** One subscription of one subscriber, as the tree stores it. S is the subscriber type. */
export interface SubscriptionEntry<S> {
  readonly subscriber: S;
  /** The filter as the client wrote it (with `$share/group/` for a shared one). */
  readonly filter: string;
  /** Options are the caller's: the tree only stores them. */
  options: unknown;
}

interface Node<S> {
  children: Map<string, Node<S>> | undefined;
  /** Plain subscriptions on exactly this filter, by subscriber. */
  direct: Map<S, SubscriptionEntry<S>> | undefined;
  /** Shared subscriptions on this filter, by group name. */
  shared: Map<string, SharedGroup<S>> | undefined;
}

/** The members of one `$share/{group}/{filter}`; one of them gets each message. */
export interface SharedGroup<S> {
  readonly name: string;
  readonly members: SubscriptionEntry<S>[];
  /** Round-robin cursor. */
  next: number;
}

export interface TopicTreeEvents {
  /** A filter got its first subscription (shared ones count under their full `$share/` filter). */
  onFilterAdded?: (filter: string) => void;
  /** A filter lost its last subscription. */
  onFilterRemoved?: (filter: string) => void;
}

export type MatchVisitor<S> = (entry: SubscriptionEntry<S>) => void;
export type SharedPicker<S> = (group: SharedGroup<S>, topic: string) => SubscriptionEntry<S> | undefined;

const newNode = <S>(): Node<S> => ({ children: undefined, direct: undefined, shared: undefined });

const roundRobin = pickerFor<unknown>('round-robin');
const anyReady = (): boolean => true;
/** Without a picker: the group's members in turn. */
const nextMember = <S>(group: SharedGroup<S>, topic: string): SubscriptionEntry<S> | undefined =>
  roundRobin(group as SharedGroup<unknown>, topic, anyReady) as SubscriptionEntry<S> | undefined;

export class TopicTree<S> {
  private readonly root: Node<S> = newNode();
  private filterCount = 0;
  private matching = false;
  private readonly stackNodes: Node<S>[] = [];
  private readonly stackDepths: number[] = [];
  private subscriptionCount = 0;
  private groupCount = 0;

  constructor(private readonly events: TopicTreeEvents = {}) {}

  /** Distinct filters with at least one subscription. */
  get filters(): number {
    return this.filterCount;
  }

  get subscriptions(): number {
    return this.subscriptionCount;
  }

  /** Shared-subscription groups with at least one member. */
  get sharedGroups(): number {
    return this.groupCount;
  }

  /**
   * Adds or replaces the subscriber's subscription to `filter` (a valid filter). Returns true
   * when it is new, false when it replaced one [MQTT-3.8.4-3].
   */
  add(subscriber: S, filter: string, options: unknown): boolean {
    const shared = filter.startsWith(SHARE_PREFIX) ? parseSharedFilter(filter) : undefined;
    if (typeof shared === 'string') throw new TypeError(shared);
    const node = this.nodeFor(shared === undefined ? filter : shared.filter, true) as Node<S>;
    const entry: SubscriptionEntry<S> = { subscriber, filter, options };
    if (shared === undefined) {
      node.direct ??= new Map();
      const existing = node.direct.get(subscriber);
      if (existing !== undefined) {
        existing.options = options;
        return false;
      }
      node.direct.set(subscriber, entry);
      if (node.direct.size === 1) this.filterAdded(filter);
    } else {
      node.shared ??= new Map();
      let group = node.shared.get(shared.group);
      if (group === undefined) {
        group = { name: shared.group, members: [], next: 0 };
        node.shared.set(shared.group, group);
      }
      const existing = group.members.find((m) => m.subscriber === subscriber);
      if (existing !== undefined) {
        existing.options = options;
        return false;
      }
      group.members.push(entry);
      if (group.members.length === 1) {
        this.groupCount++;
        this.filterAdded(filter);
      }
    }
    this.subscriptionCount++;
    return true;
  }

  /** Removes the subscriber's subscription to `filter`; false when there was none. */
  remove(subscriber: S, filter: string): boolean {
    const shared = filter.startsWith(SHARE_PREFIX) ? parseSharedFilter(filter) : undefined;
    if (typeof shared === 'string') return false;
    const path = this.pathFor(shared === undefined ? filter : shared.filter);
    if (path === undefined) return false;
    const node = path[path.length - 1].node;
    if (shared === undefined) {
      if (node.direct === undefined || !node.direct.delete(subscriber)) return false;
      if (node.direct.size === 0) {
        node.direct = undefined;
        this.filterRemoved(filter);
      }
    } else {
      const group = node.shared?.get(shared.group);
      const i = group === undefined ? -1 : group.members.findIndex((m) => m.subscriber === subscriber);
      if (group === undefined || i === -1) return false;
      group.members.splice(i, 1);
      if (group.next > i) group.next--;
      if (group.members.length === 0) {
        this.groupCount--;
        node.shared!.delete(shared.group);
        if (node.shared!.size === 0) node.shared = undefined;
        this.filterRemoved(filter);
      }
    }
    this.subscriptionCount--;
    this.prune(path);
    return true;
  }

  /** The shared group for `$share/group/filter`, if it has members. */
  group(filter: string): SharedGroup<S> | undefined {
    const shared = parseSharedFilter(filter);
    if (typeof shared === 'string') return undefined;
    return this.nodeFor(shared.filter, false)?.shared?.get(shared.group);
  }

  /**
   * Calls `visit` for every subscription matching `topic`: each plain one, and one member of
   * each shared group chosen by `pick`. A subscriber with overlapping filters is visited once
   * per matching filter; merging them is the caller's business.
   */
  match(topic: string, visit: MatchVisitor<S>, pick: SharedPicker<S> = nextMember): void {
    const levels = topic.split('/');
    const n = levels.length;
    // [MQTT-4.7.2-1] A topic starting with '$' is not matched by '+' or '#' at the first level.
    const dollar = topic.charCodeAt(0) === 0x24;
    // An explicit stack (reused between calls) instead of recursion: no depth limit, no allocation.
    const reentered = this.matching;
    this.matching = true;
    const nodes = reentered ? [] : this.stackNodes;
    const depths = reentered ? [] : this.stackDepths;
    let top = 0;
    nodes[top] = this.root;
    depths[top++] = 0;
    while (top > 0) {
      const node = nodes[--top];
      const i = depths[top];
      const children = node.children;
      if (children === undefined) continue;
      const guarded = dollar && i === 0;
      // '#' matches this level and everything below it, and its parent level too [MQTT-4.7.1-2].
      if (!guarded) {
        const hash = children.get('#');
        if (hash !== undefined) this.emit(hash, topic, visit, pick);
      }
      if (i === n) continue;
      const exact = children.get(levels[i]);
      if (exact !== undefined) {
        if (i + 1 === n) this.emit(exact, topic, visit, pick);
        nodes[top] = exact;
        depths[top++] = i + 1;
      }
      if (!guarded) {
        const plus = children.get('+');
        if (plus !== undefined) {
          if (i + 1 === n) this.emit(plus, topic, visit, pick);
          nodes[top] = plus;
          depths[top++] = i + 1;
        }
      }
    }
    if (!reentered) {
      this.matching = false;
      nodes.length = Math.min(nodes.length, 64);
    }
  }

  private emit(node: Node<S>, topic: string, visit: MatchVisitor<S>, pick: SharedPicker<S>): void {
    if (node.direct !== undefined) for (const entry of node.direct.values()) visit(entry);
    if (node.shared !== undefined) {
      for (const group of node.shared.values()) {
        const chosen = pick(group, topic);
        if (chosen !== undefined) visit(chosen);
      }
    }
  }

  private nodeFor(filter: string, create: boolean): Node<S> | undefined {
    let node = this.root;
    for (const level of filter.split('/')) {
      let child = node.children?.get(level);
      if (child === undefined) {
        if (!create) return undefined;
        child = newNode();
        (node.children ??= new Map()).set(level, child);
      }
      node = child;
    }
    return node;
  }

  private pathFor(filter: string): { node: Node<S>; level: string }[] | undefined {
    const path: { node: Node<S>; level: string }[] = [{ node: this.root, level: '' }];
    let node = this.root;
    for (const level of filter.split('/')) {
      const child = node.children?.get(level);
      if (child === undefined) return undefined;
      path.push({ node: child, level });
      node = child;
    }
    return path;
  }

  /** Drops nodes left with nothing, bottom up. */
  private prune(path: { node: Node<S>; level: string }[]): void {
    for (let i = path.length - 1; i > 0; i--) {
      const { node, level } = path[i];
      if (node.direct !== undefined || node.shared !== undefined || (node.children?.size ?? 0) > 0) return;
      const parent = path[i - 1].node;
      parent.children!.delete(level);
      if (parent.children!.size === 0) parent.children = undefined;
    }
  }

  private filterAdded(filter: string): void {
    this.filterCount++;
    this.events.onFilterAdded?.(filter);
  }

  private filterRemoved(filter: string): void {
    this.filterCount--;
    this.events.onFilterRemoved?.(filter);
  }
}
