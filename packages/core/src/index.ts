export type { ErrorCode, FailureCode } from './errors.js'
export { KeywardConfigError, KeywardError, StoreUnavailableError } from './errors.js'
export type { AuthFailedCode, KeywardErrorEvent, KeywardEvent } from './events.js'
export type { AuthenticateOptions, AuthResult, Failure } from './guard/authenticator.js'
export { checkGuardOptions } from './guard/guard-options.js'
export type { FailureDetails } from './http/failures.js'
export { failureResponse } from './http/failures.js'
export { ROUTES } from './http/handler.js'
export { bodyErrorResponse, readBody, readRawBody } from './http/read-body.js'
export type { GuardRequest, HeaderBag, HttpRequest, HttpResponse, NodeRequest } from './http/types.js'
export type { KeySelector } from './keys/key-service.js'
export type {
  ApiKeyAuthentication,
  GuardOutcome,
  IssuedKey,
  KeyFailureCode,
  KeyInfo,
  Keyward,
  RequestContext,
  VerifyKeyResult,
} from './keyward.js'
export { createKeyward } from './keyward.js'
export type { Clock } from './lib/clock.js'
export type { Duration, DurationInput } from './lib/duration.js'
export { parseDuration } from './lib/duration.js'
export type { Limited } from './limits/rate-limiter.js'
export type { KeywardOptions, RateLimitOptions } from './options.js'
export { settledWithin } from './store/deadline.js'
export { decodeStoreEvent, encodeStoreEvent } from './store/event-codec.js'
export type { MemoryStore } from './store/memory-store.js'
export { memoryStore } from './store/memory-store.js'
export type { EventChannelState, KeywardHealth } from './store/store-health.js'
export type {
  ApiKeyRecord,
  CounterHit,
  KeyStore,
  NextRefreshToken,
  RefreshTokenRecord,
  RotateRefreshResult,
  StoreEvent,
  TotpAcceptance,
  TotpRecord,
} from './store/types.js'
export type { TokenPair } from './tokens/token-service.js'
export { PENDING_TOTP_LIFETIME_MS } from './totp/pending.js'
export type { TotpEnrollment } from './totp/totp-service.js'
export type { KeywardUser, Principal, UserDirectory } from './users.js'
