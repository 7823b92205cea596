// Outbound Topic Aliases of one v5 connection (3.3.2.3.4): the broker gives a topic an alias
// number up to the client's Topic Alias Maximum [MQTT-3.3.2-9], sends the topic once with it,
// then only the alias. When every number is taken, the least recently used one is reassigned
// (sent again with its new topic). Aliases never outlive the connection [MQTT-3.3.2-7].

export interface AliasLookup {
  /** The alias number to send, 1..maximum. */
  alias: number;
  /** True when the client already knows it: send an empty topic with the alias. */
  known: boolean;
}

export class OutboundAliases {
  /** Topic to alias, in least-recently-used order (a Map keeps insertion order). */
  private readonly byTopic = new Map<string, number>();
  private nextAlias = 1;
  /** Alias numbers given back by `forget`, reused first. */
  private readonly free: number[] = [];

  constructor(readonly maximum: number) {}

  lookup(topic: string): AliasLookup {
    const alias = this.byTopic.get(topic);
    if (alias !== undefined) {
      // Move to the most recently used end.
      this.byTopic.delete(topic);
      this.byTopic.set(topic, alias);
      return { alias, known: true };
    }
    let assigned: number;
    if (this.free.length > 0) {
      assigned = this.free.pop()!;
    } else if (this.nextAlias <= this.maximum) {
      assigned = this.nextAlias++;
    } else {
      const [oldest, reused] = this.byTopic.entries().next().value as [string, number];
      this.byTopic.delete(oldest);
      assigned = reused;
    }
    this.byTopic.set(topic, assigned);
    return { alias: assigned, known: false };
  }

  /** Forgets a topic whose packet could not be sent, so the alias is not assumed known. */
  forget(topic: string): void {
    const alias = this.byTopic.get(topic);
    if (alias === undefined) return;
    this.byTopic.delete(topic);
    this.free.push(alias);
  }
}
