import { randomBytes } from 'node:crypto'

/**
 * UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then the version, 74 random bits and the
 * variant. keyward names each refresh family with one, so that the family carries the time its
 * session began through every store unchanged. Hand-written (a dozen lines): the time must come
 * from keyward's injected clock and be read back, and no store needs to know.
 */
export function timeOrderedId(ms: number): string {
  // 48 bits hold every millisecond from 1970 to the year 10889; a clock outside is broken.
  if (!(ms >= 0 && ms < 2 ** 48))
    throw new RangeError(`the clock must read milliseconds since 1970 (got ${ms})`)
  const bytes = randomBytes(16)
  bytes.writeUIntBE(Math.floor(ms), 0, 6)
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x70
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80
  const hex = bytes.toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i

/** The milliseconds a UUIDv7 was made at, or undefined for any other id (a UUIDv4, say). */
export function timeOfId(id: string): number | undefined {
  if (!UUID_V7.test(id)) return undefined
  return Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16)
}
