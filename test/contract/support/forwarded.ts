import type { KeywardEvent } from '@keyward/core'

/** What a proxy in front of the host adds: the client's address and protocol. */
export const FORWARDED = { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https' } as const

/** A failed exchange on keyward's own route, through that proxy: the route must hand the core the address too. */
export const failExchangeViaProxy = (url: string) =>
  fetch(`${url}/accounts/auth-with-api-key`, {
    method: 'POST',
    body: JSON.stringify({ api_key: `ms-${'1'.repeat(32)}` }),
    headers: { 'content-type': 'application/json', ...FORWARDED },
  })

/** The addresses the auth.failed events named, in order. */
export const failedAddresses = (events: readonly KeywardEvent[]) =>
  events.flatMap((event) => (event.type === 'auth.failed' ? [event.ip] : []))
