// Retained messages: the last retained message per topic, in a tree of topic levels so a
// wildcard subscription walks only the branches its filter allows.

export interface RetainedIndexEvents<M> {
  /** The size a message counts for in `bytes`. */
  sizeOf?: (message: M) => number;
  onSet?: (topic: string, message: M, previous: M | undefined) => void;
  onDelete?: (topic: string, previous: M) => void;
}

interface Node<M> {
  children: Map<string, Node<M>> | undefined;
  message: M | undefined;
}

export class RetainedIndex<M> {
  private readonly root: Node<M> = { children: undefined, message: undefined };
  private count = 0;
  private byteCount = 0;

  constructor(private readonly events: RetainedIndexEvents<M> = {}) {}

  get size(): number {
    return this.count;
  }

  /** Total size of the retained messages, as `sizeOf` counts them (0 without it). */
  get bytes(): number {
    return this.byteCount;
  }

  get(topic: string): M | undefined {
    let node: Node<M> | undefined = this.root;
    for (const level of topic.split('/')) {
      node = node.children?.get(level);
      if (node === undefined) return undefined;
    }
    return node.message;
  }

  /**
   * Stores the message as the one retained for its topic, replacing any earlier one.
   * `notify` false: put back without telling onSet (state read from a store).
   */
  set(topic: string, message: M, notify = true): void {
    let node = this.root;
    for (const level of topic.split('/')) {
      let child = node.children?.get(level);
      if (child === undefined) {
        child = { children: undefined, message: undefined };
        (node.children ??= new Map()).set(level, child);
      }
      node = child;
    }
    const previous = node.message;
    if (previous === undefined) this.count++;
    const sizeOf = this.events.sizeOf;
    if (sizeOf !== undefined) this.byteCount += sizeOf(message) - (previous === undefined ? 0 : sizeOf(previous));
    node.message = message;
    if (notify) this.events.onSet?.(topic, message, previous);
  }

  /** Forgets the topic's retained message (a retained PUBLISH with an empty payload [MQTT-3.3.1-10]). */
  delete(topic: string): boolean {
    const path: { node: Node<M>; level: string }[] = [];
    let node = this.root;
    for (const level of topic.split('/')) {
      const child = node.children?.get(level);
      if (child === undefined) return false;
      path.push({ node, level });
      node = child;
    }
    const previous = node.message;
    if (previous === undefined) return false;
    node.message = undefined;
    this.count--;
    if (this.events.sizeOf !== undefined) this.byteCount -= this.events.sizeOf(previous);
    // Prune branches left empty.
    for (let i = path.length - 1; i >= 0; i--) {
      const parent = path[i].node;
      const child = parent.children!.get(path[i].level)!;
      if (child.message !== undefined || (child.children?.size ?? 0) > 0) break;
      parent.children!.delete(path[i].level);
      if (parent.children!.size === 0) parent.children = undefined;
    }
    this.events.onDelete?.(topic, previous);
    return true;
  }

  /**
   * Calls `visit` for every retained message whose topic matches `filter` (a valid, non-shared
   * filter). `$` topics are not matched by a leading wildcard [MQTT-4.7.2-1].
   */
  match(filter: string, visit: (topic: string, message: M) => void): void {
    const levels = filter.split('/');
    const walk = (node: Node<M>, i: number, prefix: string): void => {
      if (i === levels.length) {
        if (node.message !== undefined) visit(prefix, node.message);
        return;
      }
      const level = levels[i];
      if (level === '#') {
        // '#' also matches the parent level itself.
        if (node.message !== undefined && i > 0) visit(prefix, node.message);
        this.visitAll(node, i === 0 ? undefined : prefix, i === 0, visit);
        return;
      }
      const children = node.children;
      if (children === undefined) return;
      if (level === '+') {
        for (const [name, child] of children) {
          if (i === 0 && name.startsWith('$')) continue;
          walk(child, i + 1, i === 0 ? name : `${prefix}/${name}`);
        }
        return;
      }
      const child = children.get(level);
      if (child !== undefined) walk(child, i + 1, i === 0 ? level : `${prefix}/${level}`);
    };
    walk(this.root, 0, '');
  }

  /** Every message below `node` (not `node` itself); `prefix` undefined means node is the root. */
  private visitAll(node: Node<M>, prefix: string | undefined, skipDollar: boolean, visit: (topic: string, message: M) => void): void {
    // Iterative, so a deep tree cannot overflow the stack.
    const stack: [Node<M>, string][] = [];
    if (node.children !== undefined) {
      for (const [name, child] of node.children) {
        if (skipDollar && name.startsWith('$')) continue;
        stack.push([child, prefix === undefined ? name : `${prefix}/${name}`]);
      }
    }
    while (stack.length > 0) {
      const [n, topic] = stack.pop()!;
      if (n.message !== undefined) visit(topic, n.message);
      if (n.children !== undefined) for (const [name, child] of n.children) stack.push([child, `${topic}/${name}`]);
    }
  }

  /** Every retained message, for persistence and `$SYS` counts. */
  entries(): [string, M][] {
    const out: [string, M][] = [];
    this.visitAll(this.root, undefined, false, (t, m) => out.push([t, m]));
    return out;
  }
}
