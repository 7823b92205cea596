// Write batching per event-loop turn: connections written to during a turn are flushed once at
// its end, from one setImmediate for the whole broker, so a socket gets one write (or writev)
// per turn whatever the number of packets.

/** What can be flushed: a connection's pending writes. */
export interface Flushable {
  flush(): void;
}

export class WriteBatch<T extends Flushable> {
  private dirty: T[] = [];
  private scheduled = false;

  /** `conn` has pending writes (called on its first write of the turn). */
  add(conn: T): void {
    this.dirty.push(conn);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushAll);
    }
  }

  private readonly flushAll = (): void => {
    this.scheduled = false;
    const list = this.dirty;
    this.dirty = [];
    for (const conn of list) conn.flush();
  };
}
