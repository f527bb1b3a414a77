import { types } from 'node:util'
import { KeywardError } from '../errors.js'
import type { HeaderBag } from './types.js'

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i
/** The types of a "simple" request, which a browser sends to any site with no preflight (Fetch). */
const CROSS_SITE_TYPE =
  /^\s*(?:application\/x-www-form-urlencoded|multipart\/form-data|text\/plain)\s*(?:;|$)/i

/**
 * The JSON object a route needs, from a raw body (a string or bytes) or from what the host's
 * own body parser produced. Empty bodies read as `{}` so that the missing field is named.
 */
export function readJsonObject(body: unknown, headers: HeaderBag, limit: number): Record<string, unknown> {
  let value = body
  const raw = rawBody(body)
  if (raw !== undefined) {
    const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.byteLength
    if (size > limit) throw payloadTooLarge(limit)
    if (size === 0) return {}
    if (!isJson(headers)) throw unsupportedMediaType()
    try {
      value = JSON.parse(
        typeof raw === 'string'
          ? raw
          : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8'),
      )
    } catch {
      throw new KeywardError('MALFORMED_JSON', 'The request body is not valid JSON')
    }
  } else if (body !== undefined && body !== null) {
    // Parsed by a host's own body parser mounted before keyward's routes. Its media type is the
    // host's to choose, but never one a browser sends cross-site without asking (a form, text),
    // and the size limit holds as far as the declared length tells.
    if (Number(headers['content-length']) > limit) throw payloadTooLarge(limit)
    const contentType = headers['content-type']
    if (typeof contentType === 'string' && CROSS_SITE_TYPE.test(contentType)) throw unsupportedMediaType()
  }
  if (value === undefined || value === null) return {}
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new KeywardError('INVALID_INPUT', 'The request body must be a JSON object', { field: 'body' })
  }
  return value as Record<string, unknown>
}

/**
 * The body's text or bytes when it is raw: a string, or bytes in any of their forms (a Buffer, a
 * fetch adapter's `await request.arrayBuffer()`, a DataView), from any realm (Node's own fetch
 * makes them outside a test runner's). Undefined for what a JSON parser produces. A body still to
 * be read (a stream, a Blob) is an adapter's mistake, refused as one (a 500 reported to onEvent)
 * rather than answered "api_key is required" for a key sent.
 */
function rawBody(body: unknown): string | Uint8Array | undefined {
  if (typeof body === 'string' || body instanceof Uint8Array) return body
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength)
  if (types.isAnyArrayBuffer(body)) return new Uint8Array(body)
  if (!isUnread(body)) return undefined
  throw new TypeError(
    `keyward reads a request body as a string, bytes or a parsed JSON value, not a ${Object.getPrototypeOf(body)?.constructor?.name ?? 'stream'}: read it first (await request.arrayBuffer())`,
  )
}

/** A method of a web or Node stream, a Blob or a fetch Request: JSON has no functions. */
const UNREAD_BODY_METHODS = ['getReader', 'pipe', 'stream', 'arrayBuffer']

/** A body still to be read: what a parser never produces. */
const isUnread = (body: unknown): body is object =>
  typeof body === 'object' &&
  body !== null &&
  (UNREAD_BODY_METHODS.some((method) => typeof (body as Record<string, unknown>)[method] === 'function') ||
    Symbol.asyncIterator in body)

/** A field the client sent, read as an own property only (never through the prototype). */
export function field(object: Record<string, unknown>, name: string): unknown {
  return Object.hasOwn(object, name) ? object[name] : undefined
}

export function requiredString(object: Record<string, unknown>, name: string, maxLength = 4096): string {
  const value = field(object, name)
  if (value === undefined) throw new KeywardError('INVALID_INPUT', `${name} is required`, { field: name })
  if (typeof value !== 'string')
    throw new KeywardError('INVALID_INPUT', `${name} must be a string`, { field: name })
  if (value.length > maxLength) {
    throw new KeywardError('INVALID_INPUT', `${name} must be at most ${maxLength} characters`, {
      field: name,
    })
  }
  return value
}

/** A query parameter given at most once; repeated or nested values are refused. */
export function queryString(query: Readonly<Record<string, unknown>>, name: string): string | undefined {
  const value = Object.hasOwn(query, name) ? query[name] : undefined
  if (value === undefined) return undefined
  if (typeof value !== 'string')
    throw new KeywardError('INVALID_INPUT', `${name} must be given once`, { field: name })
  return value
}

function isJson(headers: HeaderBag): boolean {
  const contentType = headers['content-type']
  return typeof contentType === 'string' && JSON_TYPE.test(contentType)
}

const unsupportedMediaType = () =>
  new KeywardError('UNSUPPORTED_MEDIA_TYPE', 'Send the request body as application/json')

export const payloadTooLarge = (limit: number) =>
  new KeywardError('PAYLOAD_TOO_LARGE', `The request body is larger than ${limit} bytes`)
