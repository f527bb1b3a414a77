import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'

const VERSION = 'v1'
const IV_BYTES = 12
const TAG_BYTES = 16

/** The sealing key used when none is configured: HKDF-SHA256 of the JWT secret, with its own label. */
export const totpKeyDerivedFrom = (jwtSecret: Uint8Array): Uint8Array =>
  new Uint8Array(hkdfSync('sha256', jwtSecret, Buffer.alloc(0), 'keyward totp secret v1', 32))

export interface Unsealed {
  readonly plaintext: string
  readonly byPreviousKey: boolean
}

/**
 * Seals TOTP secrets at rest with AES-256-GCM. The user id is bound in as associated data,
 * so a sealed secret copied onto another user's record does not open. Seals with one key and
 * opens with it or any key it replaced: GCM's tag tells a wrong key, so no key id is stored.
 */
export class SecretBox {
  readonly #sealing: Buffer
  readonly #opening: readonly Buffer[]

  constructor(key: Uint8Array, previousKeys: readonly Uint8Array[] = []) {
    this.#sealing = Buffer.from(key)
    this.#opening = [this.#sealing, ...previousKeys.map((previous) => Buffer.from(previous))]
  }

  seal(plaintext: string, boundTo: string): string {
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', this.#sealing, iv)
    cipher.setAAD(Buffer.from(boundTo))
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
    return `${VERSION}.${Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url')}`
  }

  /**
   * The plaintext, and whether a previous key sealed it (so that it is due to be sealed again);
   * undefined when the box was tampered with or sealed by an unknown key.
   */
  open(sealed: string, boundTo: string): Unsealed | undefined {
    const [version, payload] = sealed.split('.')
    if (version !== VERSION || payload === undefined) return undefined
    const bytes = Buffer.from(payload, 'base64url')
    if (bytes.length < IV_BYTES + TAG_BYTES) return undefined
    for (const [index, key] of this.#opening.entries()) {
      const plaintext = openWith(key, bytes, boundTo)
      if (plaintext !== undefined) return { plaintext, byPreviousKey: index > 0 }
    }
    return undefined
  }
}

function openWith(key: Buffer, bytes: Buffer, boundTo: string): string | undefined {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES))
    decipher.setAAD(Buffer.from(boundTo))
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES))
    return Buffer.concat([
      decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)),
      decipher.final(),
    ]).toString('utf8')
  } catch {
    return undefined
  }
}
