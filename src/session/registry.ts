// The session registry: client id to session, session expiry, and delayed wills.

import type { ProtocolVersion, Will } from '../protocol/index.js';
import { createSession, type Session } from './session.js';
import { longTimeout, type LongTimer } from './timers.js';

/** Session Expiry Interval meaning "never" (3.1.2.11.2). */
export const NEVER_EXPIRES = 0xffffffff;

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
  detach(session: Session, will: Will | undefined): void {
    session.outlet = undefined;
    session.will = undefined;
    if (this.sessions.get(session.clientId) !== session) {
      if (will !== undefined) this.events.publishWill(session, will);
      return;
    }
    const delay = will?.properties?.willDelayInterval ?? 0;
    if (will !== undefined) {
      if (delay === 0 || session.expiryInterval === 0) {
        this.events.publishWill(session, will);
      } else if (delay < session.expiryInterval || session.expiryInterval === NEVER_EXPIRES) {
        session.will = will;
        this.willTimers.set(session, longTimeout(delay * 1000, () => {
          this.willTimers.delete(session);
          if (session.will === will) {
            session.will = undefined;
            this.events.publishWill(session, will);
          }
        }));
      } else {
        session.will = will; // sent when the session expires, which comes first
      }
    }
    if (session.expiryInterval === 0) {
      this.end(session);
    } else if (session.expiryInterval !== NEVER_EXPIRES) {
      this.expiryTimers.set(session, longTimeout(session.expiryInterval * 1000, () => this.expire(session)));
    }
  }

  /** Ends a session now: its pending will goes out, its state is dropped. */
  expire(session: Session): void {
    if (this.sessions.get(session.clientId) !== session) return;
    const will = session.will;
    session.will = undefined;
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
