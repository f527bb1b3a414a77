/** The OpenAPI document @keyward/core ships: complete, consistent, and faithful to the product spec. */
import { createKeyward, type ErrorCode, failureResponse, ROUTES } from '@keyward/core'
import { describe, expect, it } from 'vitest'
import { PRESENTATION } from '../../packages/core/src/http/failures.js'
import {
  componentResponse,
  coreDocument,
  errorsText,
  headerValue,
  type OpenApiDocument,
  pointer,
  specDocuments,
  validatorAt,
} from './support/schemas.js'

type Node = Record<string, unknown>
const STATUSES = ['400', '401', '403', '404', '405', '409', '413', '415', '429', '500', '503']

const operations = (document: OpenApiDocument) =>
  Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item ?? {}).map(([method, operation]) => ({
      path,
      method,
      operation: operation as unknown as Node,
    })),
  )

function refsIn(node: unknown): string[] {
  if (typeof node !== 'object' || node === null) return []
  return Object.entries(node).flatMap(([name, value]) =>
    name === '$ref' && typeof value === 'string' ? [value] : refsIn(value),
  )
}

function resolve(document: unknown, ref: string): unknown {
  return ref
    .slice(2)
    .split('/')
    .reduce<unknown>((node, key) => (node as Node | undefined)?.[key.replaceAll('~1', '/')], document)
}

/** Follows a $ref (if any) to the schema it names, within the same document. */
const deref = (document: unknown, node: unknown): Node =>
  (typeof node === 'object' && node !== null && '$ref' in node
    ? resolve(document, String(node.$ref))
    : node) as Node

/** The properties of a schema, with their type and format, following $refs. */
function shape(document: unknown, schema: unknown): Record<string, { type: unknown; format: unknown }> {
  const properties = (deref(document, schema).properties ?? {}) as Record<string, unknown>
  return Object.fromEntries(
    Object.entries(properties).map(([name, property]) => {
      const { type, format } = deref(document, property)
      return [name, { type, format }]
    }),
  )
}

const jsonSchema = (document: unknown, holder: unknown) =>
  ((deref(document, holder).content as Node)['application/json'] as Node).schema

/** The properties of `data` in an operation's 200 response. */
const dataShape = (document: unknown, operation: Node) =>
  shape(
    document,
    (deref(document, jsonSchema(document, (operation.responses as Node)['200'])).properties as Node).data,
  )

/**
 * Optional spec properties the core never sends: a deletion answers with the key's summary,
 * since the credentials document (creds) holds the full key and exists only at issue.
 */
const NOT_SENT: Record<string, string[]> = { 'spec/delete-api-key.md': ['creds'] }

/** The component each error status is described by. */
const COMPONENT: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  413: 'PayloadTooLarge',
  415: 'UnsupportedMediaType',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
}

interface Example {
  readonly at: string
  readonly schemaAt: string
  readonly value: unknown
}

/**
 * Every `example` and `examples[*].value` under a node, with the schema it illustrates: its
 * sibling `schema` (a media type, parameter or header), else the schema it sits in.
 */
function examplesIn(node: unknown, at: string[]): Example[] {
  if (typeof node !== 'object' || node === null) return []
  const children = (skip: string[]) =>
    Object.entries(node).flatMap(([key, child]) =>
      skip.includes(key) ? [] : examplesIn(child, [...at, key]),
    )
  // Under `properties` the keys are property names: an `example` there would be a property.
  if (at.at(-1) === 'properties') return children([])
  const schemaAt = pointer(...('schema' in node ? [...at, 'schema'] : at))
  const found: Example[] = []
  if ('example' in node) found.push({ at: pointer(...at, 'example'), schemaAt, value: node.example })
  const examples = 'examples' in node ? (node.examples as Record<string, Node>) : {}
  for (const [name, example] of Object.entries(examples))
    if ('value' in example)
      found.push({ at: pointer(...at, 'examples', name), schemaAt, value: example.value })
  return [...found, ...children(['example', 'examples'])]
}

describe("core's openapi.json", () => {
  it('is OpenAPI 3.0.3 and documents exactly the routes keyward serves', () => {
    expect((coreDocument as unknown as Node).openapi).toBe('3.0.3')
    const documented = operations(coreDocument).map(({ method, path }) => `${method.toUpperCase()} ${path}`)
    expect(documented.sort()).toEqual(ROUTES.map(({ method, path }) => `${method} ${path}`).sort())
  })

  it('declares both security schemes; the two exchanges need no credential', () => {
    const document = coreDocument as unknown as Node & { security: unknown }
    expect(coreDocument.components.securitySchemes).toMatchObject({
      bearerAuth: { type: 'http', scheme: 'bearer' },
      apiKeyAuth: { type: 'apiKey', in: 'header', name: 'X-Api-Key' },
    })
    expect(document.security).toEqual([{ bearerAuth: [] }, { apiKeyAuth: [] }])
    for (const { path, operation } of operations(coreDocument)) {
      const open = path === '/accounts/auth-with-api-key' || path === '/accounts/refresh'
      expect(operation.security, path).toEqual(open ? [] : undefined)
    }
  })

  it('has the error schema { error, message, retry_after?, field? }', () => {
    expect(coreDocument.components.schemas?.Error).toMatchObject({
      required: ['error', 'message'],
      properties: {
        error: { type: 'string' },
        message: { type: 'string' },
        retry_after: { type: 'integer' },
        field: { type: 'string' },
      },
    })
    const validate = validatorAt(coreDocument, '#/components/schemas/Error')
    expect(validate({ error: 'Rate limit exceeded', message: 'Later', retry_after: 60 })).toBe(true)
    expect(validate({ error: 'Invalid request' })).toBe(false)
  })

  it('describes every status the core answers, and each operation lists only those', () => {
    const described = Object.values(coreDocument.components.responses ?? {})
    expect(described).toHaveLength(STATUSES.length)
    const listed = new Set(
      operations(coreDocument).flatMap(({ operation }) => Object.keys(operation.responses as Node)),
    )
    for (const status of listed) expect(['200', ...STATUSES]).toContain(status)
    for (const status of ['400', '401', '404', '409', '413', '415', '429', '500', '503'])
      expect(listed).toContain(status)
    // 403 and 405 are not an operation's answer: the guard on host routes and unserved methods give them.
    expect(coreDocument.components.responses).toHaveProperty('Forbidden')
    expect(coreDocument.components.responses).toHaveProperty('MethodNotAllowed')
  })

  it('documents every header a failure carries, in the format it is sent', () => {
    // Every detail that adds a header: a reason (a malformed header's challenge) and a limit hit.
    const details = {
      message: 'Authorization must be "Bearer <value>"',
      retryAfter: 30,
      rateLimit: { limit: 5, windowSeconds: 60 },
    }
    for (const code of Object.keys(PRESENTATION) as ErrorCode[]) {
      const { status, headers } = failureResponse(code, details)
      const documented = componentResponse(coreDocument, COMPONENT[status] ?? `for ${status}`)
      for (const [name, raw] of Object.entries(headers)) {
        // Content-Type is the documented content's; Connection is hop-by-hop, no operation's.
        if (name === 'content-type' || name === 'connection') continue
        const header = documented.headers[name]
        expect(header, `${code}: ${name} is not documented`).toBeDefined()
        const valid = header?.validate(headerValue(raw))
        expect(valid, `${code}: ${name}: ${raw}: ${header && errorsText(header.validate)}`).toBe(true)
      }
    }
  })

  it('has examples that match the schemas they illustrate', () => {
    const examples = [
      ...examplesIn(coreDocument.paths, ['paths']),
      ...examplesIn(coreDocument.components, ['components']),
    ]
    // Each error response has one: a walk that missed them would check next to nothing.
    expect(examples.length).toBeGreaterThanOrEqual(
      Object.keys(coreDocument.components.responses ?? {}).length,
    )
    for (const { at, schemaAt, value } of examples) {
      const validate = validatorAt(coreDocument, schemaAt)
      expect(validate(value), `${at}: ${errorsText(validate)}`).toBe(true)
    }
  })

  it("states the length caps the handler enforces on the exchanges' credentials", async () => {
    const keyward = createKeyward({
      jwtSecret: 'a contract secret of thirty-two bytes!!',
      users: { get: () => null },
    })
    const caps = [
      ['/accounts/auth-with-api-key', 'AuthWithApiKeyRequest', 'api_key'],
      ['/accounts/refresh', 'RefreshRequest', 'refresh_token'],
    ] as const
    for (const [path, schema, name] of caps) {
      const property = resolve(coreDocument, `#/components/schemas/${schema}/properties/${name}`) as Node
      const cap = Number(property.maxLength)
      expect(cap, `${schema}.${name}`).toBeGreaterThan(0)
      const answer = (length: number) =>
        keyward.handle({
          method: 'POST',
          path,
          query: {},
          headers: {},
          body: { [name]: 'x'.repeat(length) },
          ip: '192.0.2.1',
        })
      // At the cap the value is read (and refused as a credential); one more is refused as too long.
      expect((await answer(cap))?.status, `${name} at ${cap}`).toBe(401)
      expect((await answer(cap + 1))?.body).toMatchObject({
        field: name,
        message: expect.stringMatching(`at most ${cap}`),
      })
    }
    await keyward.close()
  })

  it('resolves every $ref', () => {
    for (const ref of refsIn(coreDocument)) expect(resolve(coreDocument, ref), ref).toBeDefined()
  })

  it("keeps the product spec's request and response shapes for its four operations", () => {
    // Four documents of one operation each: a loop over none would check nothing.
    expect([...specDocuments].flatMap(([, spec]) => operations(spec))).toHaveLength(4)
    for (const [id, spec] of specDocuments) {
      for (const { path, method, operation } of operations(spec)) {
        const ours = coreDocument.paths[path]?.[method] as unknown as Node | undefined
        expect(ours, `${id}: ${method} ${path}`).toBeDefined()
        if (operation.requestBody !== undefined) {
          const theirs = deref(spec, jsonSchema(spec, operation.requestBody))
          const mine = deref(coreDocument, jsonSchema(coreDocument, ours?.requestBody))
          expect(shape(coreDocument, mine), id).toEqual(shape(spec, theirs))
          expect(mine.required, id).toEqual(theirs.required)
        }
        const theirs = dataShape(spec, operation)
        const mine = dataShape(coreDocument, ours as Node)
        for (const omitted of NOT_SENT[id] ?? []) delete theirs[omitted]
        expect(mine, id).toMatchObject(theirs)
      }
    }
  })
})
