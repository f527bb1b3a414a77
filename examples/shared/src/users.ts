import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { KeywardUser, UserDirectory } from '@keyward/core'

interface DemoAccount {
  readonly user: KeywardUser
  readonly password: string
}

/** Two demo accounts for local use only: their passwords are their names. Never deploy these. */
const ACCOUNTS = new Map<string, DemoAccount>([
  [
    'demo',
    {
      password: 'demo',
      user: { id: 'demo', email: 'demo@example.com', permissions: ['agents:read', 'agents:write'] },
    },
  ],
  [
    'alice',
    { password: 'alice', user: { id: 'alice', email: 'alice@example.com', permissions: ['agents:read'] } },
  ],
])

export const demoUsers: UserDirectory = {
  get: (userId) => ACCOUNTS.get(userId)?.user ?? null,
}

const sha256 = (text: string) => createHash('sha256').update(text).digest()

/** What the demo stores per account: a digest, so every comparison is of 32 bytes whatever was sent. */
const DIGESTS = new Map([...ACCOUNTS].map(([username, account]) => [username, sha256(account.password)]))
/** Compared against for an unknown username, so that it takes as long as a known one. */
const NO_ACCOUNT = sha256(randomBytes(32).toString('hex'))

/**
 * The user id for a username and password, or undefined. Always one comparison in constant time,
 * so how long it takes tells neither whether the username exists nor the password's length.
 * (A real login stores a slow hash such as scrypt or Argon2, never the password.)
 */
export function checkPassword(username: string, password: string): string | undefined {
  const matches = timingSafeEqual(sha256(password), DIGESTS.get(username) ?? NO_ACCOUNT)
  const account = ACCOUNTS.get(username)
  return matches && account !== undefined ? account.user.id : undefined
}
