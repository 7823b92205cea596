// The session registry: client id to session, session expiry, and delayed wills.

import type { ProtocolVersion, Will } from '../protocol/index.js';
import { createSession, type Session } from './session.js';
import { longTimeout, type LongTimer } from './timers.js';

/** Session Expiry Interval meaning "never" (3.1.2.11.2). */
export const NEVER_EXPIRES = 0xffffffff;
/** The expiry time of a session that never expires. */
export const NEVER_AT = Number.MAX_SAFE_INTEGER;

export interface RegistryEvents {
  /** The session is over (expired, replaced by a clean start, or ended with its connection). */
  onSessionEnd(session: Session): void;
  /** A will is due: publish it. */
  publishWill(session: Session, will: Will): void;
}

export interface OpenResult {
  session: Session;
  /** Session Present for the CONNACK [MQTT-3.2.2-2] / [MQTT-3.2.2-3]. */
  present: boolean;
}

export class SessionRegistry {
  private readonly sessions = new Map<string, Session>();
  private readonly expiryTimers = new Map<Session, LongTimer>();
  private readonly willTimers = new Map<Session, LongTimer>();

  constructor(private readonly events: RegistryEvents) {}

  get size(): number {
    return this.sessions.size;
  }

  get(clientId: string): Session | undefined {
    return this.sessions.get(clientId);
  }

  values(): IterableIterator<Session> {
    return this.sessions.values();
  }

  /**
   * Gives a connecting client its session: the existing one unless `cleanStart`
   * [MQTT-3.1.2-4] [MQTT-3.1.2-5] (v5) / [MQTT-3.1.2-6] (3.1.1), else a new one.
   * The caller has already detached any connection the session had (takeover).
   */
  open(clientId: string, version: ProtocolVersion, cleanStart: boolean, expiryInterval: number): OpenResult {
    const existing = this.sessions.get(clientId);
    if (existing !== undefined) {
      this.cancelExpiry(existing);
      this.willTimers.get(existing)?.cancel();
      this.willTimers.delete(existing);
      // A delayed will: a new connection before the delay ends cancels it [MQTT-3.1.3-10] if the
      // session goes on; a clean start ends the old session, and a session's end sends it [MQTT-3.1.3-9].
      const will = existing.will;
      existing.will = undefined;
      existing.willAt = 0;
      existing.expiresAt = 0;
      if (cleanStart && will !== undefined) this.events.publishWill(existing, will);
      if (!cleanStart) {
        existing.protocolVersion = version;
        existing.expiryInterval = expiryInterval;
        existing.epoch++;
        return { session: existing, present: true };
      }
      this.end(existing);
    }
    const session = createSession(clientId, version, expiryInterval);
    this.sessions.set(clientId, session);
    return { session, present: false };
  }

  /**
   * The session's connection is gone. `will` is the will to send, or undefined when the client
   * disconnected normally [MQTT-3.14.4-3]. It goes out after its delay or when the session
   * ends, whichever comes first [MQTT-3.1.3-9].
   */
  detach(session: Session, will: Will | undefined, now = Date.now()): void {
    session.outlet = undefined;
    session.will = undefined;
    session.willAt = 0;
    if (this.sessions.get(session.clientId) !== session) {
      if (will !== undefined) this.events.publishWill(session, will);
      return;
    }
    const never = session.expiryInterval === NEVER_EXPIRES;
    session.expiresAt = session.expiryInterval === 0 ? now : never ? NEVER_AT : now + session.expiryInterval * 1000;
    const delay = will?.properties?.willDelayInterval ?? 0;
    if (will !== undefined) {
      if (delay === 0 || session.expiryInterval === 0) {
        this.events.publishWill(session, will);
      } else {
        // Sent after its delay, or when the session expires if that comes first.
        this.holdWill(session, will, Math.min(now + delay * 1000, session.expiresAt), now);
      }
    }
    if (session.expiryInterval === 0) this.end(session);
    else this.armExpiry(session, now);
  }

  /**
   * Puts back a session read from the store at start. `expiresAt` 0 means its client was
   * connected when the broker stopped: its link ended then, without DISCONNECT, so it is
   * detached now (its will follows the usual rules).
   */
  restore(session: Session, expiresAt: number, will: Will | undefined, willAt: number, now = Date.now()): void {
    this.sessions.set(session.clientId, session);
    if (expiresAt === 0) {
      this.detach(session, will, now);
      return;
    }
    session.expiresAt = expiresAt;
    if (will !== undefined) this.holdWill(session, will, willAt > 0 ? willAt : expiresAt, now);
    if (expiresAt <= now) this.expire(session);
    else this.armExpiry(session, now);
  }

  /** Keeps a will until `at` (epoch ms), then publishes it unless a reconnect cancelled it. */
  private holdWill(session: Session, will: Will, at: number, now: number): void {
    session.will = will;
    session.willAt = at;
    if (at >= session.expiresAt) return; // the session's expiry publishes it
    this.willTimers.set(session, longTimeout(at - now, () => {
      this.willTimers.delete(session);
      if (session.will === will) {
        session.will = undefined;
        session.willAt = 0;
        this.events.publishWill(session, will);
      }
    }));
  }

  private armExpiry(session: Session, now: number): void {
    if (session.expiresAt >= NEVER_AT) return;
    this.expiryTimers.set(session, longTimeout(session.expiresAt - now, () => this.expire(session)));
  }

  /** Ends a session now: its pending will goes out, its state is dropped. */
  expire(session: Session): void {
    if (this.sessions.get(session.clientId) !== session) return;
    const will = session.will;
    session.will = undefined;
    session.willAt = 0;
    if (will !== undefined) this.events.publishWill(session, will);
    this.end(session);
  }

  /** Drops a session without sending its will. */
  end(session: Session): void {
    this.cancelExpiry(session);
    this.willTimers.get(session)?.cancel();
    this.willTimers.delete(session);
    if (this.sessions.get(session.clientId) === session) this.sessions.delete(session.clientId);
    this.events.onSessionEnd(session);
  }

  /** Cancels every timer, for shutdown. */
  close(): void {
    for (const t of this.expiryTimers.values()) t.cancel();
    for (const t of this.willTimers.values()) t.cancel();
    this.expiryTimers.clear();
    this.willTimers.clear();
  }

  private cancelExpiry(session: Session): void {
    this.expiryTimers.get(session)?.cancel();
    this.expiryTimers.delete(session);
  }
}
