import { randomBase64Url, sha256Hex } from '../lib/secrets.js'

/** Opaque refresh tokens: `rt_` and 256 random bits; stored only as a SHA-256 digest. */
export const REFRESH_PREFIX = 'rt_'
const REFRESH_PATTERN = /^rt_[A-Za-z0-9_-]{43}$/

export const generateRefreshToken = (): string => REFRESH_PREFIX + randomBase64Url(32)

export const isWellFormedRefreshToken = (raw: string): boolean => REFRESH_PATTERN.test(raw)

export const refreshTokenDigest = sha256Hex
