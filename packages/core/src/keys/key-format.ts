import { randomHex, sha256Hex } from '../lib/secrets.js'

/** prefix + 32 lowercase hex characters: 128 bits from the CSPRNG. */
const SECRET_HEX_LENGTH = 32
const HEX = /^[0-9a-f]+$/
export const KEY_PREFIX_PATTERN = /^[A-Za-z0-9_-]{1,16}$/

export interface KeyFormat {
  readonly prefix: string
  generate(): string
  /** Cheap structural check, done before any hashing or store access. */
  isWellFormed(raw: string): boolean
  /** Non-secret preview for display: the prefix, an ellipsis and the last 4 characters. */
  preview(raw: string): string
  digest(raw: string): string
}

export function keyFormat(prefix: string): KeyFormat {
  const length = prefix.length + SECRET_HEX_LENGTH
  return {
    prefix,
    generate: () => prefix + randomHex(SECRET_HEX_LENGTH / 2),
    isWellFormed: (raw) =>
      raw.length === length && raw.startsWith(prefix) && HEX.test(raw.slice(prefix.length)),
    preview: (raw) => `${prefix}…${raw.slice(-4)}`,
    digest: sha256Hex,
  }
}
