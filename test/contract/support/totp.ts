// otplib is @keyward/core's dependency, not the workspace root's; the suite borrows core's copy
// rather than adding a dependency, and computes codes independently of core's own TOTP code.
import { generate } from '../../../packages/core/node_modules/otplib'

/** The TOTP code an authenticator app shows for `secret` at `atMs` (6 digits, 30 s, SHA-1). */
export const totpCode = (secret: string, atMs: number): Promise<string> =>
  generate({ secret, epoch: Math.floor(atMs / 1000) })
