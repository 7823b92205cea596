// A token bucket for per-client publish rates: refills continuously at `rate` per second and
// holds at most one second's worth, so a client may burst up to its rate and no further.

export class TokenBucket {
  private tokens: number;
  private last = performance.now();

  constructor(private readonly rate: number) {
    this.tokens = rate;
  }

  /** Takes `n` tokens; returns how many ms the caller should wait for the deficit (0: none). */
  take(n: number, now = performance.now()): number {
    this.tokens = Math.min(this.rate, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    this.tokens -= n;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens * 1000) / this.rate);
  }
}
