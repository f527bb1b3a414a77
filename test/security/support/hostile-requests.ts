/**
 * fast-check generators of hostile HTTP requests for keyward's routes and a guarded host
 * route: credentials real, forged, repeated and misspelt; header names that are prototype
 * properties; header values with raw UTF-8 and heads just under Node's limit; JSON of the
 * wrong types with `__proto__` and `constructor` keys, deep nesting, strings around the body
 * limit, invalid UTF-8, and the wrong content types; query strings with repeated, nested and
 * badly encoded parameters. Everything generated reaches the application: what Node's own
 * parser refuses (control characters, oversized heads) is tested separately.
 */
import { maxHeaderSize } from 'node:http'
import { ROUTES } from '@keyward/core'
import fc from 'fast-check'
import type { RawHeader, RawRequest } from './raw-http.js'

/** The fixture's secrets: none of them may ever be sent back or logged. */
export interface FixtureSecrets {
  readonly key: string
  readonly authToken: string
  readonly refreshToken: string
  readonly totpSecret: string
}

export interface HostileCase {
  readonly request: RawRequest
  /** What the case is, for counterexamples. */
  readonly label: string
}

export const GUARDED_PATH = '/v1/agents'
const KEYWARD_PATHS = [...new Set(ROUTES.map((route) => route.path))]
const METHODS = ['GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'OPTIONS', 'HEAD']

/** Printable ASCII, as a header value may carry it. */
const ascii = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) })
/** Text without control characters, sent as UTF-8 bytes (Node passes them through as latin1). */
const utf8Bytes = fc
  .string({ unit: 'grapheme', maxLength: 40 })
  .map((text) => Buffer.from(text.replace(/[\p{Cc}]/gu, ''), 'utf8'))
const latin1Bytes = fc.uint8Array({ minLength: 1, maxLength: 40 }).map((bytes) =>
  // Tab, and bytes outside C0/DEL: everything a header value may hold.
  Buffer.from(bytes.map((byte) => (byte < 0x20 || byte === 0x7f ? 0x09 : byte))),
)
const headerValue = fc.oneof(ascii, utf8Bytes, latin1Bytes, fc.constant(''))

/** Framing and credential headers are generated on purpose, never at random. */
const RESERVED = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'expect',
  'upgrade',
  'te',
  'trailer',
  'keep-alive',
  'content-type',
  'x-api-key',
  'authorization',
])
const tokenName = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/).filter((name) => !RESERVED.has(name))
/** Names a naive header map would mistake for its own properties. */
const prototypeName = fc.constantFrom(
  '__proto__',
  'constructor',
  'prototype',
  'hasOwnProperty',
  'toString',
  'valueOf',
  '__defineGetter__',
)
const otherName = fc.constantFrom(
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'cookie',
  'accept',
  'accept-encoding',
  'x-request-id',
)

function credentialHeaders(secrets: FixtureSecrets): fc.Arbitrary<readonly RawHeader[]> {
  const { key, authToken, refreshToken } = secrets
  const flipped = `${key.slice(0, -1)}${key.endsWith('0') ? '1' : '0'}`
  const genuine = fc.constantFrom<readonly RawHeader[]>(
    [['x-api-key', key]],
    [['x-api-key', `${key} `]],
    [['authorization', `Bearer ${key}`]],
    [['authorization', `Bearer ${authToken}`]],
    [['authorization', `bearer ${authToken}`]],
    [['authorization', `BEARER ${key}`]],
    [['authorization', `Bearer  ${key}  `]],
  )
  const forged = fc.constantFrom<readonly RawHeader[]>(
    [['authorization', 'Bearer']],
    [['authorization', 'Bearer ']],
    [['authorization', 'bearer']],
    [['authorization', `Basic ${Buffer.from(`alice:${key}`).toString('base64')}`]],
    [['authorization', `Token ${key}`]],
    [['authorization', `Bearer\t${key}`]],
    [['authorization', `Bearer ${refreshToken}`]],
    [['authorization', `Bearer ${flipped}`]],
    [['authorization', `Bearer ${authToken.slice(0, -2)}`]],
    [['authorization', `Bearer ${authToken}${'a'.repeat(4000)}`]],
    [['x-api-key', `ms-${'a'.repeat(12_000)}`]],
    [['x-api-key', '']],
    [['x-api-key', flipped]],
    [['x-api-key', authToken]],
    [['x-api-key', key.toUpperCase()]],
    [
      ['x-api-key', key],
      ['x-api-key', key],
    ],
    [
      ['x-api-key', flipped],
      ['x-api-key', key],
    ],
    [
      ['authorization', 'Bearer junk'],
      ['authorization', `Bearer ${authToken}`],
    ],
    [
      ['x-api-key', flipped],
      ['authorization', `Bearer ${key}`],
    ],
  )
  // Node's IncomingMessage keeps the first of two Authorization headers and drops the other,
  // so the core never sees the repetition it would refuse as malformed: this is let through on
  // every framework. Only "never a login without a genuine credential" is asserted of it.
  const repeated = fc.constant<readonly RawHeader[]>([
    ['authorization', `Bearer ${key}`],
    ['authorization', 'Bearer junk'],
  ])
  const random = fc
    .tuple(fc.constantFrom('x-api-key', 'authorization'), headerValue)
    .map(([name, value]): readonly RawHeader[] => [[name, value]])
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant([]) },
    { weight: 4, arbitrary: genuine },
    { weight: 4, arbitrary: forged },
    { weight: 1, arbitrary: repeated },
    { weight: 2, arbitrary: random },
  )
}

const extraHeaders = fc.array(fc.tuple(fc.oneof(prototypeName, otherName, tokenName), headerValue), {
  maxLength: 4,
})

const hostHeader = fc.option(
  fc.constantFrom(
    'evil.example',
    '',
    'a b',
    '[::1]:80',
    'é/../x',
    '%00',
    'localhost:99999',
    '<x>',
    'a'.repeat(300),
  ),
  { nil: undefined },
)

// Query strings: URL-legal ASCII only (Node refuses anything else before the app sees it).
const queryName = fc.oneof(
  fc.constantFrom(
    'key',
    'id',
    'key[]',
    'id[0]',
    'a[b]',
    'key[a][b]',
    '__proto__',
    '__proto__[polluted]',
    'constructor',
    'constructor[prototype][polluted]',
    'toString',
  ),
  ascii.map(encodeURIComponent),
)
const queryValue = fc.oneof(
  ascii.map(encodeURIComponent),
  fc.string({ unit: 'grapheme', maxLength: 20 }).map(encodeURIComponent),
  fc.constantFrom('', '%', '%zz', '%00', '%ff', '%E2%82', '%C0%AF', '%5B%5D', '[]', 'a,b', '%26id%3D1'),
  fc.uuid(),
)
const queryString = fc
  .array(fc.tuple(queryName, queryValue), { maxLength: 5 })
  .chain((pairs) =>
    fc
      .constantFrom('&', ';', '&&')
      .map((glue) => pairs.map(([name, value]) => `${name}=${value}`).join(glue)),
  )
  .map((query) => (query === '' ? '' : `?${query}`))

const FIELDS = ['api_key', 'key_name', 'code', 'refresh_token']
const PROTOTYPE_KEYS = ['__proto__', 'constructor', 'prototype']

/** JSON text (not a value: `__proto__` must reach the wire as a key), of bounded depth. */
const jsonText: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.jsonValue({ maxDepth: 2 }).map((value) => JSON.stringify(value) ?? 'null'),
    fc.constantFrom('{"polluted":"yes"}', '{"prototype":{"polluted":"yes"}}', '"\\ud800"', '1e999', '-0'),
    fc
      .array(fc.tuple(fc.constantFrom(...FIELDS, ...PROTOTYPE_KEYS, 'polluted'), tie('value')), {
        maxLength: 4,
      })
      .map((entries) => `{${entries.map(([name, value]) => `${JSON.stringify(name)}:${value}`).join(',')}}`),
    fc.array(tie('value'), { maxLength: 3 }).map((items) => `[${items.join(',')}]`),
  ),
})).value

/** A JSON object for the routes' fields, with the fixture's own credentials where they belong. */
function routeObject(secrets: FixtureSecrets): fc.Arbitrary<string> {
  const fieldValue = (name: string) =>
    name === 'api_key'
      ? fc.oneof(fc.constant(JSON.stringify(secrets.key)), jsonText)
      : name === 'refresh_token'
        ? fc.oneof(
            fc.constantFrom(JSON.stringify(secrets.refreshToken), JSON.stringify(secrets.authToken)),
            jsonText,
          )
        : name === 'key_name'
          ? fc.oneof(
              fc.string({ maxLength: 140 }).map((text) => JSON.stringify(text)),
              jsonText,
            )
          : name === 'code'
            ? fc.oneof(
                fc.stringMatching(/^\d{6}$/).map((code) => JSON.stringify(code)),
                jsonText,
              )
            : jsonText
  return fc
    .uniqueArray(fc.constantFrom(...FIELDS, ...PROTOTYPE_KEYS), { maxLength: 4 })
    .chain((names) =>
      fc.tuple(...names.map((name) => fieldValue(name).map((value) => [name, value] as const))),
    )
    .map((entries) => `{${entries.map(([name, value]) => `${JSON.stringify(name)}:${value}`).join(',')}}`)
}

/** Bodies whose size is within `spread` bytes of the limit, either side. */
function aroundLimit(limit: number, spread = 64): fc.Arbitrary<Buffer> {
  return fc
    .tuple(fc.integer({ min: -spread, max: spread }), fc.constantFrom(...FIELDS))
    .map(([delta, name]) => {
      const frame = `{"${name}":""}`
      return Buffer.from(`{"${name}":"${'a'.repeat(Math.max(0, limit + delta - frame.length))}"}`)
    })
}

function deeplyNested(limit: number): fc.Arbitrary<Buffer> {
  return fc
    .tuple(fc.integer({ min: 10, max: Math.ceil(limit / 2) + 200 }), fc.boolean())
    .map(([depth, arrays]) =>
      Buffer.from(
        arrays
          ? `{"key_name":${'['.repeat(depth)}${']'.repeat(depth)}}`
          : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`,
      ),
    )
}

const invalidUtf8 = fc.oneof(
  fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
  fc.constantFrom(
    Buffer.from([
      0x7b, 0x22, 0x61, 0x70, 0x69, 0x5f, 0x6b, 0x65, 0x79, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d,
    ]),
    Buffer.from([
      0x7b, 0x22, 0x6b, 0x65, 0x79, 0x5f, 0x6e, 0x61, 0x6d, 0x65, 0x22, 0x3a, 0x22, 0xc0, 0xaf, 0x22, 0x7d,
    ]),
    Buffer.from([0xef, 0xbb, 0xbf, 0x7b, 0x7d]),
    Buffer.from([0xed, 0xa0, 0x80]),
  ),
)

const contentType = fc.option(
  fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'APPLICATION/JSON',
    'application/vnd.api+json',
    'application/json; charset=latin1',
    'application/jsonx',
    'application/json, text/plain',
    'text/plain',
    'text/json',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    '*/*',
    ';;;',
    '',
  ),
  { nil: undefined, freq: 4 },
)

export interface BodySpec {
  readonly bytes: Buffer
  readonly contentType: string | undefined
  readonly chunked: boolean
}

function body(secrets: FixtureSecrets, limit: number): fc.Arbitrary<BodySpec | undefined> {
  const bytes = fc.oneof(
    routeObject(secrets).map((text) => Buffer.from(text)),
    jsonText.map((text) => Buffer.from(text)),
    aroundLimit(limit),
    deeplyNested(limit),
    invalidUtf8,
    fc.constant(
      Buffer.from('{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}}}'),
    ),
    fc.constant(Buffer.alloc(0)),
  )
  return fc.option(fc.record({ bytes, contentType, chunked: fc.boolean() }), { nil: undefined, freq: 5 })
}

/** Head bytes a padding header may fill up to: just under Node's limit, never over it. */
const padding = fc.option(fc.integer({ min: 0, max: 600 }), { nil: undefined, freq: 6 })

export function hostileCase(secrets: FixtureSecrets, bodyLimit: number): fc.Arbitrary<HostileCase> {
  const target = fc.oneof(
    // Mostly the methods each path serves, so most requests get past routing.
    { weight: 6, arbitrary: fc.constantFrom(...ROUTES).map(({ path, method }) => [path, method] as const) },
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...KEYWARD_PATHS), fc.constantFrom(...METHODS)) },
    { weight: 2, arbitrary: fc.tuple(fc.constant(GUARDED_PATH), fc.constantFrom('GET', 'GET', 'HEAD')) },
  )
  return fc
    .record({
      target,
      credentials: credentialHeaders(secrets),
      extra: extraHeaders,
      host: hostHeader,
      query: queryString,
      body: body(secrets, bodyLimit),
      padding,
    })
    .map(({ target: [path, method], credentials, extra, host, query, body: sent, padding: slack }) => {
      const headers: RawHeader[] = [...credentials, ...extra]
      if (host !== undefined) headers.unshift(['host', host])
      if (sent?.contentType !== undefined) headers.push(['content-type', sent.contentType])
      const request: RawRequest = {
        method,
        target: `${path}${query}`,
        headers,
        body: sent?.bytes,
        chunked: sent?.chunked ?? false,
      }
      const label = `${method} ${path}${query} [${headers.map(([name]) => name).join(', ')}]`
      return described({
        request: slack === undefined ? request : padTo(request, maxHeaderSize - slack),
        label,
      })
    })
}

const preview = (bytes: string | Uint8Array, max = 120): string => {
  const text = Buffer.from(bytes).toString('latin1')
  return text.length <= max
    ? JSON.stringify(text)
    : `${JSON.stringify(text.slice(0, max))}… (${text.length} bytes)`
}

/** A case as fast-check prints a counterexample: readable, with long values cut short. */
export function described(hostile: HostileCase): HostileCase {
  const { method, target, headers, body, chunked } = hostile.request
  const text = [
    `${method} ${preview(target)}`,
    ...headers.map(([name, value]) => `  ${name}: ${preview(value)}`),
    body === undefined ? '  (no body)' : `  body${chunked ? ' (chunked)' : ''}: ${preview(body)}`,
  ].join('\n')
  return Object.assign(hostile, { [fc.toStringMethod]: () => text })
}

/** Adds a header that brings the head to `size` bytes (as encodeRequest writes it, Host included). */
function padTo(request: RawRequest, size: number): RawRequest {
  // Request line, the headers as given, Host (at most 21 bytes for 127.0.0.1:port), Connection,
  // framing, and the padding header's own name.
  const line = `${request.method} ${request.target} HTTP/1.1\r\n`.length
  const given = request.headers.reduce(
    (sum, [name, value]) => sum + name.length + 4 + Buffer.byteLength(value),
    0,
  )
  const fixed = 'host: 127.0.0.1:65535\r\n'.length + 'connection: close\r\n'.length + 2
  const framing = request.body === undefined ? 0 : 'content-length: 16448\r\n'.length
  const room = size - line - given - fixed - framing - 'x-padding: \r\n'.length
  if (room <= 0) return request
  return { ...request, headers: [...request.headers, ['x-padding', 'p'.repeat(room)]] }
}
