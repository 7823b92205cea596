// CONNECT timeouts and keep alive for every connection from one timer: a wheel of 100 ms
// slots. A Timeout per connection (and a closure per re-arm) was a tenth of an idle
// connection's heap. Activity does not move an entry: when its slot comes, the owner is asked
// for its real deadline and is put back in the slot of that one (a lazy wheel), so a busy
// connection costs one check per keep-alive period, not one per packet.

/** Something with a deadline: asked when its slot comes round. */
export interface Expiring {
  /**
   * Its slot has come (`now` from performance.now()). Returns the next deadline, or 0 when it
   * has none any more (closed, or closed now for having run out of time).
   */
  expire(now: number): number;
}

const SLOT_MS = 100;

export class DeadlineWheel<T extends Expiring> {
  private readonly slots = new Map<number, T[]>();
  private timer: NodeJS.Timeout | undefined;
  /** The slot the timer handles next: slots before it have been handled. */
  private nextSlot = 0;

  /** Asks `item` again at `at` (performance.now() time): never before, at most a slot after. */
  schedule(item: T, at: number): void {
    if (this.timer === undefined) {
      this.nextSlot = Math.floor(performance.now() / SLOT_MS);
      this.timer = setInterval(this.tick, SLOT_MS);
      this.timer.unref();
    }
    // Never into a slot already handled, or it would wait for ever.
    const slot = Math.max(Math.ceil(at / SLOT_MS), this.nextSlot);
    const list = this.slots.get(slot);
    if (list === undefined) this.slots.set(slot, [item]);
    else list.push(item);
  }

  /** Stops the timer; what is scheduled is forgotten. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.slots.clear();
  }

  private readonly tick = (): void => {
    const now = performance.now();
    const last = Math.floor(now / SLOT_MS);
    while (this.nextSlot <= last) {
      // Advanced first: what expire() schedules again goes to a later slot.
      const slot = this.nextSlot++;
      const list = this.slots.get(slot);
      if (list === undefined) continue;
      this.slots.delete(slot);
      for (const item of list) {
        const next = item.expire(now);
        if (next > 0) this.schedule(item, next);
      }
    }
    if (this.slots.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  };
}
