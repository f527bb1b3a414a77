import { hash, randomBytes, timingSafeEqual } from 'node:crypto'

/**
 * Hex SHA-256. Keys carry 128 random bits, so a fast unsalted digest is the right tool here.
 * The one-shot `crypto.hash` allocates no Hash object: it is on the guard's hot path.
 */
export const sha256Hex = (value: string): string => hash('sha256', value, 'hex')

export const randomHex = (bytes: number): string => randomBytes(bytes).toString('hex')

export const randomBase64Url = (bytes: number): string => randomBytes(bytes).toString('base64url')

/** Constant-time equality of two strings of secrets or digests. */
export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a)
  const right = Buffer.from(b)
  // Compare against itself on a length mismatch so the time does not depend on where they differ.
  if (left.length !== right.length) {
    timingSafeEqual(left, left)
    return false
  }
  return timingSafeEqual(left, right)
}
