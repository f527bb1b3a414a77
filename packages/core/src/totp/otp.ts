import { generate, generateSecret, generateURI, verify } from 'otplib'

/** TOTP parameters every common authenticator app supports (RFC 6238 defaults). */
export const TOTP_PERIOD_SECONDS = 30
export const TOTP_DIGITS = 6
/** 160 bits, as RFC 4226 recommends. */
const SECRET_BYTES = 20

export type OtpAlgorithm = 'sha1' | 'sha256' | 'sha512'

export const newTotpSecret = (): string => generateSecret({ length: SECRET_BYTES })

/**
 * The otpauth:// URL. A lone surrogate (a display name cut in the middle of an emoji) becomes
 * U+FFFD, since encodeURIComponent throws on it. The label is "issuer:account", and apps split it
 * at a colon, encoded or not: one in the account name becomes a space (the issuer has none).
 */
export const totpUri = (issuer: string, account: string, secret: string): string =>
  generateURI({
    issuer: issuer.toWellFormed(),
    label: account.toWellFormed().replaceAll(':', ' '),
    secret,
    period: TOTP_PERIOD_SECONDS,
    digits: TOTP_DIGITS,
  })

/** The code for a time (or a counter, for HOTP); used by the RFC vector tests. */
export function otpCode(options: {
  secret: string | Uint8Array
  epochSeconds?: number
  counter?: number
  algorithm?: OtpAlgorithm
  digits?: 6 | 7 | 8
}): Promise<string> {
  return generate({
    secret: options.secret,
    strategy: options.counter === undefined ? 'totp' : 'hotp',
    ...(options.counter === undefined ? { epoch: options.epochSeconds ?? 0 } : { counter: options.counter }),
    algorithm: options.algorithm ?? 'sha1',
    digits: options.digits ?? TOTP_DIGITS,
    period: TOTP_PERIOD_SECONDS,
  })
}

/**
 * Checks a code against the current step and one step either side, and only against steps
 * after `afterStep`, so a code accepted once is never accepted again. Returns the step matched.
 */
export async function matchTotpStep(
  secret: string,
  code: string,
  epochSeconds: number,
  afterStep: number | null,
): Promise<number | undefined> {
  // A step already accepted at or past the window's newest (another instance's clock ahead, or
  // this one's set back) leaves nothing to match; otplib throws for that rather than answer no.
  const newestStep = Math.floor(epochSeconds / TOTP_PERIOD_SECONDS) + 1
  if (afterStep !== null && afterStep >= newestStep) return undefined
  const result = await verify({
    secret,
    token: code,
    epoch: epochSeconds,
    period: TOTP_PERIOD_SECONDS,
    digits: TOTP_DIGITS,
    epochTolerance: TOTP_PERIOD_SECONDS,
    ...(afterStep === null ? {} : { afterTimeStep: afterStep }),
  })
  return result.valid && 'timeStep' in result ? result.timeStep : undefined
}
