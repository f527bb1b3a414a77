/** A tiny HTTP client over Node's fetch; every response it returns has passed checkResponse. */
import { request } from 'node:http'
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
  /** Sends with node:http instead of fetch, which refuses some requests (a GET with a body). */
  readonly nodeHttp?: boolean
}

interface Received {
  readonly status: number
  readonly headers: Headers
  readonly text: string
}

async function viaFetch(url: URL, method: string, headers: Headers, body: Send['raw']): Promise<Received> {
  const duplex = body instanceof ReadableStream ? 'half' : undefined
  const response = await fetch(url, { method, headers, body, duplex, redirect: 'manual' })
  return { status: response.status, headers: response.headers, text: await response.text() }
}

function viaNodeHttp(
  url: URL,
  method: string,
  headers: Headers,
  body: string | Uint8Array,
): Promise<Received> {
  return new Promise((resolve, reject) => {
    // node:http frames a GET body only when told its length; fetch would refuse to send one.
    const framing = { 'content-length': String(Buffer.byteLength(body)) }
    const sent = request(
      url,
      { method, headers: { ...Object.fromEntries(headers), ...framing } },
      (response) => {
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('end', () => {
          const received = new Headers()
          for (const [name, value] of Object.entries(response.headers)) received.set(name, String(value))
          resolve({
            status: response.statusCode ?? 0,
            headers: received,
            text: Buffer.concat(chunks).toString(),
          })
        })
      },
    )
    sent.on('error', reject)
    sent.end(body)
  })
}

export type Api = (method: string, target: string, send?: Send) => Promise<Reply>

/** `basePath` is the engine's option, for checkResponse to find keyward's routes under it. */
export function client(baseUrl: string, basePath?: string): Api {
  return async (method, target, send = {}) => {
    const headers = new Headers(send.headers)
    let body = send.raw
    if (send.json !== undefined) {
      headers.set('content-type', 'application/json')
      body = JSON.stringify(send.json)
    }
    const url = new URL(target, baseUrl)
    const {
      status,
      headers: received,
      text,
    } = send.nodeHttp === true && !(body instanceof ReadableStream)
      ? await viaNodeHttp(url, method, headers, body ?? '')
      : await viaFetch(url, method, headers, body)
    const isJson = /^application\/json/.test(received.get('content-type') ?? '')
    const reply = { status, headers: received, body: isJson && text !== '' ? JSON.parse(text) : text }
    checkResponse({ method, path: url.pathname, ...reply }, basePath)
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
