import type { FailureCode } from './errors.js'
import { isPromiseLike } from './lib/maybe-promise.js'

/**
 * Audit events, and errors, delivered to the host's onEvent hook. None carries a key, a token or
 * a secret.
 */
export type KeywardEvent =
  | { readonly type: 'key.issued'; readonly at: Date; readonly userId: string; readonly keyId: string }
  | { readonly type: 'key.deleted'; readonly at: Date; readonly userId: string; readonly keyId: string }
  | { readonly type: 'key.used'; readonly at: Date; readonly userId: string; readonly keyId: string }
  | {
      readonly type: 'auth.failed'
      readonly at: Date
      readonly code: AuthFailedCode
      /** `'unresolved'` for an HTTP request whose framework resolved no address (a Unix socket). */
      readonly ip: string | undefined
      /** Whose credential it was, where keyward knows: absent for an unknown key or token. */
      readonly userId?: string
      readonly keyId?: string
    }
  | {
      /** A new session: the API-key exchange (with its keyId) or the host's issueTokens (null). */
      readonly type: 'token.issued'
      readonly at: Date
      readonly userId: string
      readonly keyId: string | null
    }
  | {
      readonly type: 'token.refreshed'
      readonly at: Date
      readonly userId: string
      readonly keyId: string | null
    }
  /** The host's endSessions: every refresh token the user held is revoked. */
  | { readonly type: 'sessions.ended'; readonly at: Date; readonly userId: string }
  | { readonly type: 'totp.enabled'; readonly at: Date; readonly userId: string }
  /** The host's resetTotp: the user's enrolment, pending or enabled, is gone. */
  | { readonly type: 'totp.reset'; readonly at: Date; readonly userId: string }
  | KeywardErrorEvent

/**
 * Why a presented credential was refused. A request with no credential, a malformed header, a
 * 403 and a 429 are not reported: nothing was presented and checked, or the address is already
 * counted.
 */
export type AuthFailedCode =
  | Exclude<FailureCode, 'MISSING_CREDENTIALS' | 'MALFORMED_HEADER' | 'FORBIDDEN' | 'RATE_LIMITED'>
  | 'INVALID_REFRESH_TOKEN'
  | 'REFRESH_TOKEN_REUSED'
  | 'INVALID_TOTP_CODE'

/**
 * Something failed that no client can be told about: a request answered 503 (the store or the
 * host's user directory failed) or 500 (anything else), or keyward's work in the background.
 * keyward logs nothing itself; this is how an operator learns why. One per failed request.
 */
export interface KeywardErrorEvent {
  readonly type: 'error'
  readonly at: Date
  /**
   * A request; writing last-used times; the hourly prune; subscribing to other instances'
   * deletions, or staying subscribed (a dropped connection, a failed reconnection); counting a
   * failed attempt from an address (the request still got its 401, and the attempt was counted in
   * this process instead), or clearing a user's TOTP counts after an accepted code (the request
   * still succeeded; the next accepted code clears them).
   */
  readonly during: 'request' | 'last-used' | 'prune' | 'subscribe' | 'rate-limit'
  readonly code: 'STORE_UNAVAILABLE' | 'INTERNAL'
  /**
   * What was thrown: the store's or the directory's own error for STORE_UNAVAILABLE. keyward hands
   * stores digests and ids only, never a key or a token.
   */
  readonly error: unknown
}

/** Called for each event; not awaited. A promise it returns is not waited for either. */
export type EventHook = (event: KeywardEvent) => unknown

/**
 * A hook that throws or rejects must not break a request, nor, rejecting unhandled, end the host's
 * process (any client can cause an auth.failed): its error is swallowed.
 */
export function safeEmitter(hook: EventHook | undefined): EventHook | undefined {
  if (!hook) return undefined
  return (event) => {
    try {
      const result = hook(event)
      if (isPromiseLike(result)) Promise.resolve(result).catch(ignore)
    } catch {
      // The host's hook is not ours to crash on.
    }
  }
}

const ignore = () => {}
