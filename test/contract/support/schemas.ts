/**
 * The OpenAPI documents every response is checked against: the product's (spec/*.md, parsed
 * from their ```yaml blocks) and the one @keyward/core ships (packages/core/openapi.json).
 * Schemas are taken from the documents as they are; $refs resolve against each document.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { Ajv, type ValidateFunction } from 'ajv'
import addFormats from 'ajv-formats'
import { parse } from 'yaml'

export interface OpenApiDocument {
  readonly paths: Record<string, Record<string, Operation | undefined> | undefined>
  readonly components: Record<string, Record<string, unknown> | undefined>
}

interface Operation {
  readonly responses: Record<string, ResponseObject | { readonly $ref: string } | undefined>
}

interface ResponseObject {
  readonly headers?: Record<string, { readonly $ref: string } | HeaderObject>
  readonly content?: Record<string, { readonly schema?: unknown }>
}

interface HeaderObject {
  readonly schema: unknown
  readonly required?: boolean
}

const specDir = new URL('../../../spec/', import.meta.url)
const corePath = new URL('../../../packages/core/openapi.json', import.meta.url)

/** The body of the first ```yaml (or ````yaml) fence in a Markdown page, if any. */
export function yamlBlock(markdown: string): string | undefined {
  return /^(`{3,})yaml[^\n]*\n([\s\S]*?)^\1[ \t]*$/m.exec(markdown)?.[2]
}

function loadSpecDocuments(): Map<string, OpenApiDocument> {
  const documents = new Map<string, OpenApiDocument>()
  for (const file of readdirSync(specDir)
    .filter((name) => name.endsWith('.md'))
    .sort()) {
    const block = yamlBlock(readFileSync(new URL(file, specDir), 'utf8'))
    const parsed = block === undefined ? undefined : parse(block)
    if (parsed?.openapi !== undefined) documents.set(`spec/${file}`, parsed)
  }
  return documents
}

export const specDocuments = loadSpecDocuments()
export const coreDocument: OpenApiDocument = JSON.parse(readFileSync(corePath, 'utf8'))

// The documents' top-level fields are declared as (inert) keywords so that strict mode still
// flags anything unknown inside the schemas themselves.
const DOCUMENT_FIELDS = ['openapi', 'info', 'servers', 'security', 'tags', 'paths', 'components']
const ajv = new Ajv({ allErrors: true, strict: true, keywords: [...DOCUMENT_FIELDS, 'example'] })
addFormats(ajv)
const documentIds = new Map<OpenApiDocument, string>()
for (const [id, document] of [...specDocuments, ['core/openapi.json', coreDocument] as const]) {
  ajv.addSchema(document as object, id)
  documentIds.set(document, id)
}

const escapeSegment = (segment: string) => segment.replaceAll('~', '~0').replaceAll('/', '~1')
export const pointer = (...segments: string[]) => `#/${segments.map(escapeSegment).join('/')}`

function resolve<T>(
  document: OpenApiDocument,
  value: T | { readonly $ref: string },
): [T, string | undefined] {
  if (typeof value !== 'object' || value === null || !('$ref' in value)) return [value as T, undefined]
  const target = value.$ref
    .slice(2)
    .split('/')
    .reduce<unknown>((node, key) => (node as Record<string, unknown>)[key.replaceAll('~1', '/')], document)
  return [target as T, value.$ref]
}

/** A validator for a schema inside a document, by JSON pointer, so that its $refs resolve there. */
export function validatorAt(document: OpenApiDocument, at: string): ValidateFunction {
  const validate = ajv.getSchema(`${documentIds.get(document)}${at}`)
  if (validate === undefined) throw new Error(`no schema at ${documentIds.get(document)}${at}`)
  return validate
}

export interface DocumentedHeader {
  readonly validate: ValidateFunction
  /** OpenAPI's `required`: false unless the document says so. */
  readonly required: boolean
}

export interface DocumentedResponse {
  readonly validate: ValidateFunction
  /** By lower-case name. */
  readonly headers: Record<string, DocumentedHeader>
  readonly where: string
}

/** The documented response for an operation and status, or undefined when it is not listed. */
export function documentedResponse(
  document: OpenApiDocument,
  path: string,
  method: string,
  status: number,
): DocumentedResponse | undefined {
  const listed = document.paths[path]?.[method.toLowerCase()]?.responses[String(status)]
  if (listed === undefined) return undefined
  const [response, ref] = resolve<ResponseObject>(document, listed)
  const at = ref ?? pointer('paths', path, method.toLowerCase(), 'responses', String(status))
  return describeResponse(document, response, at)
}

/** A response from `components.responses`, e.g. `Forbidden` for the guard on host routes. */
export function componentResponse(document: OpenApiDocument, name: string): DocumentedResponse {
  const response = document.components.responses?.[name] as ResponseObject | undefined
  if (response === undefined) throw new Error(`no components.responses.${name}`)
  return describeResponse(document, response, pointer('components', 'responses', name))
}

function describeResponse(document: OpenApiDocument, response: ResponseObject, at: string) {
  const headers: Record<string, DocumentedHeader> = {}
  for (const [name, header] of Object.entries(response.headers ?? {})) {
    const [resolved, ref] = resolve<HeaderObject>(document, header)
    const validate = validatorAt(
      document,
      ref === undefined ? `${at}/headers/${escapeSegment(name)}/schema` : `${ref}/schema`,
    )
    headers[name.toLowerCase()] = { validate, required: resolved.required === true }
  }
  const where = `${documentIds.get(document)}${at}`
  return { validate: validatorAt(document, `${at}/content/application~1json/schema`), headers, where }
}

/** A header is text: its digits are the value an integer schema describes. */
export const headerValue = (raw: string): string | number => (/^\d+$/.test(raw) ? Number(raw) : raw)

export const errorsText = (validate: ValidateFunction) => ajv.errorsText(validate.errors)
