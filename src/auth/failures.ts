// Failed authentications per client address: past the limit, further attempts from that address
// are refused for the rest of the minute without checking anything (a password guesser gets
// nowhere and costs us no PBKDF2 work).

const WINDOW_MS = 60_000;
/** Beyond this many tracked addresses, expired windows are swept on the next failure. */
const SWEEP_AT = 10_000;

export class FailureLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(private readonly maxPerMinute: number) {}

  /** True when this address has used up its failures for the current minute. */
  blocked(address: string | undefined, now = Date.now()): boolean {
    if (this.maxPerMinute === 0 || address === undefined) return false;
    const w = this.windows.get(address);
    return w !== undefined && now - w.start < WINDOW_MS && w.count >= this.maxPerMinute;
  }

  record(address: string | undefined, now = Date.now()): void {
    if (this.maxPerMinute === 0 || address === undefined) return;
    const w = this.windows.get(address);
    if (w === undefined || now - w.start >= WINDOW_MS) {
      if (this.windows.size >= SWEEP_AT) this.sweep(now);
      this.windows.set(address, { start: now, count: 1 });
    } else w.count++;
  }

  private sweep(now: number): void {
    for (const [address, w] of this.windows) if (now - w.start >= WINDOW_MS) this.windows.delete(address);
  }
}
