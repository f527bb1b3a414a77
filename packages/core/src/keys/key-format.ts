import { randomHex, sha256Bytes, sha256Hex } from '../lib/secrets.js'

/** prefix + 32 lowercase hex characters: 128 bits from the CSPRNG. */
const SECRET_HEX_LENGTH = 32
const HEX = /^[0-9a-f]+$/
export const KEY_PREFIX_PATTERN = /^[A-Za-z0-9_-]{1,16}$/

export interface KeyFormat {
  readonly prefix: string
  generate(): string
  /** The cheapest structural check (prefix and length), done before any hashing. */
  hasShape(raw: string): boolean
  /** The full structural check, done before any store access. */
  isWellFormed(raw: string): boolean
  /** Non-secret preview for display: the prefix, an ellipsis and the last 4 characters. */
  preview(raw: string): string
  /** The stored digest: hex SHA-256. */
  digest(raw: string): string
  /** The same digest as a one-byte string of its 32 bytes: the verification cache's key. */
  digestBytes(raw: string): string
}

const shapeOf = (prefix: string) => {
  const length = prefix.length + SECRET_HEX_LENGTH
  return (raw: string) => raw.length === length && raw.startsWith(prefix)
}

/**
 * Keys are issued with `prefix`; those of `previousPrefixes` (a prefix changed) are still keys.
 * Without previous prefixes the guard's shape check is the one comparison it always was.
 */
export function keyFormat(prefix: string, previousPrefixes: readonly string[] = []): KeyFormat {
  const current = shapeOf(prefix)
  const previous = previousPrefixes.map(shapeOf)
  const hasShape =
    previous.length === 0
      ? current
      : (raw: string) => {
          if (current(raw)) return true
          for (const shape of previous) if (shape(raw)) return true
          return false
        }
  return {
    prefix,
    generate: () => prefix + randomHex(SECRET_HEX_LENGTH / 2),
    hasShape,
    isWellFormed: (raw) => hasShape(raw) && HEX.test(raw.slice(raw.length - SECRET_HEX_LENGTH)),
    preview: (raw) => `${prefix}…${raw.slice(-4)}`,
    digest: sha256Hex,
    digestBytes: sha256Bytes,
  }
}
