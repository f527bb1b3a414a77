/** A tiny HTTP client over Node's fetch; every response it returns has passed checkResponse. */
import { checkResponse } from './check.js'

export interface Reply {
  readonly status: number
  readonly headers: Headers
  /** Parsed JSON when the response is JSON, else the text. */
  readonly body: unknown
}

export interface Send {
  readonly headers?: Readonly<Record<string, string>>
  /** Sent as application/json. */
  readonly json?: unknown
  /** Sent as is, with whatever content-type `headers` give; a stream goes out chunked. */
  readonly raw?: string | Uint8Array | ReadableStream<Uint8Array>
}

export type Api = (method: string, target: string, send?: Send) => Promise<Reply>

export function client(baseUrl: string): Api {
  return async (method, target, send = {}) => {
    const headers = new Headers(send.headers)
    let body = send.raw
    if (send.json !== undefined) {
      headers.set('content-type', 'application/json')
      body = JSON.stringify(send.json)
    }
    const url = new URL(target, baseUrl)
    const duplex = body instanceof ReadableStream ? 'half' : undefined
    const response = await fetch(url, { method, headers, body, duplex, redirect: 'manual' })
    const text = await response.text()
    const isJson = /^application\/json/.test(response.headers.get('content-type') ?? '')
    const reply = {
      status: response.status,
      headers: response.headers,
      body: isJson && text !== '' ? JSON.parse(text) : text,
    }
    checkResponse({ method, path: url.pathname, ...reply })
    return reply
  }
}

export const withKey = (key: string) => ({ 'x-api-key': key })
export const withBearer = (value: string) => ({ authorization: `Bearer ${value}` })

/** The success payload of a validated 200; the schema check already vouched for its shape. */
export function data<T>(reply: Reply): T {
  if (reply.status !== 200)
    throw new Error(`expected 200, got ${reply.status}: ${JSON.stringify(reply.body)}`)
  return (reply.body as { data: T }).data
}

export interface IssuedKeyData {
  readonly id: string
  readonly key: string
  readonly name: string
  readonly preview: string
  readonly created_on: string
  readonly expires_on: string
  readonly creds: string
}

export interface KeySummaryData {
  readonly id: string
  readonly name: string
  readonly preview: string
  readonly created_on: string
  readonly expires_on: string
  readonly last_used_on: string | null
}

export interface TokensData {
  readonly auth_token: string
  readonly refresh_token: string
  readonly passkey_enabled?: boolean
  readonly totp_enabled?: boolean
}

export interface TotpKeyData {
  readonly otpauth_url: string
  readonly secret: string
}
