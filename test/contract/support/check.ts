/**
 * Checks one response against the OpenAPI documents: the product's (spec/*.md) and core's.
 * Throws with the document, status and schema errors when something does not match.
 */

import { ROUTES } from '@keyward/core'
import type { ValidateFunction } from 'ajv'
import { GUARDED } from './host.js'
import {
  componentResponse,
  coreDocument,
  type DocumentedResponse,
  documentedResponse,
  errorsText,
  headerValue,
  specDocuments,
  validatorAt,
} from './schemas.js'

const KEYWARD_PATHS = new Set(ROUTES.map((route) => route.path))
const GUARDED_PATHS = new Set<string>(Object.values(GUARDED))

/** The component describing each error status the guard can answer on a host route. */
const GUARD_RESPONSES: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  429: 'TooManyRequests',
  503: 'ServiceUnavailable',
}

export interface Observed {
  readonly method: string
  readonly path: string
  readonly status: number
  readonly headers: Headers
  readonly body: unknown
}

function expectBody(validate: ValidateFunction, observed: Observed, label: string): void {
  // A HEAD response has the status and headers of the answer but never its body.
  if (observed.method === 'HEAD' || validate(observed.body)) return
  throw new Error(`${label}: body does not match: ${errorsText(validate)}\n${JSON.stringify(observed.body)}`)
}

function expectMatch(documented: DocumentedResponse, observed: Observed): void {
  const label = `${observed.method} ${observed.path} -> ${observed.status} (${documented.where})`
  expectBody(documented.validate, observed, label)
  for (const [name, { validate, required }] of Object.entries(documented.headers)) {
    const raw = observed.headers.get(name)
    if (raw === null) {
      if (required) throw new Error(`${label}: required header ${name} is missing`)
      continue
    }
    if (!validate(headerValue(raw)))
      throw new Error(`${label}: header ${name}: ${raw}: ${errorsText(validate)}`)
  }
}

/** A method the path does not serve: 405, MethodNotAllowed, and Allow lists the documented methods. */
function expectMethodNotAllowed(observed: Observed): void {
  if (observed.status !== 405) {
    throw new Error(`${observed.method} ${observed.path} is not documented but answered ${observed.status}`)
  }
  expectMatch(componentResponse(coreDocument, 'MethodNotAllowed'), observed)
  const documented = Object.keys(coreDocument.paths[observed.path] ?? {}).flatMap((method) =>
    method === 'get' ? ['GET', 'HEAD'] : [method.toUpperCase()],
  )
  const allowed = (observed.headers.get('allow') ?? '').split(/,\s*/)
  if ([...allowed].sort().join() !== [...documented].sort().join()) {
    throw new Error(`${observed.path}: Allow is "${allowed}", the document lists ${documented}`)
  }
}

function expectSpecErrorShape(observed: Observed): void {
  for (const [id, document] of specDocuments) {
    expectBody(validatorAt(document, '#/components/schemas/Error'), observed, `${id} Error`)
  }
}

/** A response from one of keyward's routes, against both documents. */
function expectDocumented(observed: Observed): void {
  const { path, status } = observed
  // HEAD is GET without the body (RFC 9110); the documents, as is usual, list only GET.
  const method = observed.method === 'HEAD' ? 'GET' : observed.method
  const operation = coreDocument.paths[path]?.[method.toLowerCase()]
  if (operation === undefined) expectMethodNotAllowed(observed)
  else {
    const documented = documentedResponse(coreDocument, path, method, status)
    if (documented === undefined) throw new Error(`${method} ${path}: status ${status} is not documented`)
    expectMatch(documented, observed)
  }
  for (const document of specDocuments.values()) {
    const specified = documentedResponse(document, path, method, status)
    if (specified !== undefined) expectMatch(specified, observed)
  }
  if (status >= 400) expectSpecErrorShape(observed)
}

/** The path within keyward's mount prefix, as the documents name it; undefined outside the mount. */
const withinMount = (path: string, basePath: string): string | undefined =>
  path.startsWith(`${basePath}/`) ? path.slice(basePath.length) : undefined

/**
 * Checks a response if it is one keyward is answerable for; the host's own answers are left alone.
 * `basePath` is the engine's option: keyward's routes are served under it, documented without it.
 */
export function checkResponse(observed: Observed, basePath = ''): void {
  const path = withinMount(observed.path, basePath)
  if (path !== undefined && KEYWARD_PATHS.has(path)) expectDocumented({ ...observed, path })
  else if (GUARDED_PATHS.has(observed.path) && observed.status >= 400) {
    const name = GUARD_RESPONSES[observed.status]
    if (name === undefined) throw new Error(`the guard answered ${observed.status}, which it never should`)
    expectMatch(componentResponse(coreDocument, name), observed)
    expectSpecErrorShape(observed)
  }
}
