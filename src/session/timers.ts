// Timers for intervals longer than setTimeout allows (2^31 - 1 ms, about 24.8 days):
// session expiry and will delay are given in seconds up to 2^32 - 1.

const MAX_TIMEOUT = 2_147_483_647;

export interface LongTimer {
  cancel(): void;
}

export function longTimeout(ms: number, fn: () => void): LongTimer {
  let handle: NodeJS.Timeout;
  let cancelled = false;
  const arm = (left: number): void => {
    handle = setTimeout(() => {
      if (cancelled) return;
      if (left > MAX_TIMEOUT) arm(left - MAX_TIMEOUT);
      else fn();
    }, Math.min(left, MAX_TIMEOUT));
    handle.unref();
  };
  arm(Math.max(0, ms));
  return {
    cancel() {
      cancelled = true;
      clearTimeout(handle);
    },
  };
}
