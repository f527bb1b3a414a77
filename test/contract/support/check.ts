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
  for (const [name, validate] of Object.entries(documented.headers)) {
    const raw = observed.headers.get(name)
    if (raw === null) throw new Error(`${label}: documented header ${name} is missing`)
    const value = /^\d+$/.test(raw) ? Number(raw) : raw
    if (!validate(value)) throw new Error(`${label}: header ${name}: ${raw}: ${errorsText(validate)}`)
  }
}

/** A method the path does not serve: 405, MethodNotAllowed, and Allow lists the documented methods. */
function expectMethodNotAllowed(observed: Observed): void {
  if (observed.status !== 405) {
    throw new Error(`${observed.method} ${observed.path} is not documented but answered ${observed.status}`)
  }
  expectMatch(componentResponse(coreDocument, 'MethodNotAllowed'), observed)
  const documented = Object.keys(coreDocument.paths[observed.path] ?? {}).map((method) =>
    method.toUpperCase(),
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

/** Checks a response if it is one keyward is answerable for; the host's own answers are left alone. */
export function checkResponse(observed: Observed): void {
  const { method, path, status } = observed
  if (KEYWARD_PATHS.has(path)) {
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
    return
  }
  if (GUARDED_PATHS.has(path) && status >= 400) {
    const name = GUARD_RESPONSES[status]
    if (name === undefined) throw new Error(`the guard answered ${status}, which it never should`)
    expectMatch(componentResponse(coreDocument, name), observed)
    expectSpecErrorShape(observed)
  }
}
