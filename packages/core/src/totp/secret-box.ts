import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'

const VERSION = 'v1'
const IV_BYTES = 12
const TAG_BYTES = 16

/**
 * Seals TOTP secrets at rest with AES-256-GCM. The user id is bound in as associated data,
 * so a sealed secret copied onto another user's record does not open.
 */
export class SecretBox {
  readonly #key: Buffer

  private constructor(key: Buffer) {
    this.#key = key
  }

  static fromKey(key: Uint8Array): SecretBox {
    return new SecretBox(Buffer.from(key))
  }

  /** Without a configured key, one is derived from the JWT secret (HKDF-SHA256, its own label). */
  static derivedFrom(secret: Uint8Array): SecretBox {
    return new SecretBox(
      Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'keyward totp secret v1', 32)),
    )
  }

  seal(plaintext: string, boundTo: string): string {
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv)
    cipher.setAAD(Buffer.from(boundTo))
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
    return `${VERSION}.${Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url')}`
  }

  /** Returns the plaintext, or undefined when the box was tampered with or sealed by another key. */
  open(sealed: string, boundTo: string): string | undefined {
    const [version, payload] = sealed.split('.')
    if (version !== VERSION || payload === undefined) return undefined
    const bytes = Buffer.from(payload, 'base64url')
    if (bytes.length < IV_BYTES + TAG_BYTES) return undefined
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, bytes.subarray(0, IV_BYTES))
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
}
