import { hash, randomBytes, timingSafeEqual } from 'node:crypto'

/**
 * Hex SHA-256. Keys carry 128 random bits, so a fast unsalted digest is the right tool here.
 * The one-shot `crypto.hash` allocates no Hash object: it is on the guard's hot path.
 */
export const sha256Hex = (value: string): string => hash('sha256', value, 'hex')

/**
 * The same digest as its 32 bytes in a one-byte string: the cheapest form to look up in a Map
 * (V8 hashes a fresh key string character by character, and hex doubles the characters).
 * 'binary' is Node's name for latin1 here.
 */
export const sha256Bytes = (value: string): string => hash('sha256', value, 'binary')

export const bytesToHex = (bytes: string): string => Buffer.from(bytes, 'latin1').toString('hex')

export const hexToBytes = (hex: string): string => Buffer.from(hex, 'hex').toString('latin1')

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

/** A secret's UTF-16 code units, the form constantTimeMatches compares against. */
export function codeUnits(secret: string): Uint16Array {
  const units = new Uint16Array(secret.length)
  for (let i = 0; i < secret.length; i++) units[i] = secret.charCodeAt(i)
  return units
}

/**
 * Constant-time equality of a string and a secret's code units (codeUnits), without allocating:
 * the guard's hot path. Reading one side from a typed array halves the charCodeAt calls, which
 * are the loop's cost. A length difference answers at once: a key's length is fixed by its format.
 */
export function constantTimeMatches(secret: Uint16Array, value: string): boolean {
  // The length read once, outside the loop: V8 then compiles the loop about twice as fast.
  const length = secret.length
  if (length !== value.length) return false
  let difference = 0
  for (let i = 0; i < length; i++) difference |= secret[i]! ^ value.charCodeAt(i)
  return difference === 0
}
