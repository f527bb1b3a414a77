import { timingSafeEqual } from 'node:crypto'
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

const sameText = (a: string, b: string) => {
  const left = Buffer.from(a)
  const right = Buffer.from(b)
  return left.length === right.length && timingSafeEqual(left, right)
}

/** The user id for a username and password, or undefined. */
export function checkPassword(username: string, password: string): string | undefined {
  const account = ACCOUNTS.get(username)
  return account !== undefined && sameText(account.password, password) ? account.user.id : undefined
}
