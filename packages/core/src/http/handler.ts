import { isKeywardError, KeywardError } from '../errors.js'
import type { Authenticator, AuthResult, Failure } from '../guard/authenticator.js'
import type { KeywardInternals } from '../keyward.js'
import { requestAddress } from '../limits/address-group.js'
import type { Principal } from '../users.js'
import { field, queryString, readJsonObject, requiredString } from './body.js'
import { errorResponse, failureResponse, jsonResponse } from './failures.js'
import type { HttpRequest, HttpResponse } from './types.js'
import { credentialsDocument, keySummary } from './views.js'

type RouteHandler = (request: HttpRequest, principal: Principal) => Promise<HttpResponse>

interface Route {
  readonly method: string
  readonly path: string
  readonly auth: boolean
  readonly run: RouteHandler
}

/** Every route keyward serves, relative to the mount prefix. HEAD is answered wherever GET is. */
export const ROUTES: ReadonlyArray<{ readonly method: string; readonly path: string }> = [
  { method: 'POST', path: '/accounts/auth-with-api-key' },
  { method: 'POST', path: '/accounts/api-key' },
  { method: 'GET', path: '/accounts/api-key' },
  { method: 'DELETE', path: '/accounts/api-key' },
  { method: 'POST', path: '/accounts/generate-totp-key' },
  { method: 'POST', path: '/accounts/verify-totp' },
  { method: 'POST', path: '/accounts/refresh' },
]

/** Turns a failed authentication into its response. */
export function authFailureResponse(failure: Failure): HttpResponse {
  if (failure.code === 'MALFORMED_HEADER')
    return failureResponse('MALFORMED_HEADER', { message: failure.reason })
  if (failure.code === 'RATE_LIMITED') {
    return failureResponse('RATE_LIMITED', {
      retryAfter: failure.limited?.retryAfter,
      rateLimit: failure.limited,
    })
  }
  // USER_GONE reads as an invalid token when it was a token that named the user.
  return failureResponse(failure.credential === 'auth_token' ? 'INVALID_TOKEN' : failure.code)
}

/** Maps anything thrown while handling a request to a JSON response; never a stack trace. */
export function thrownResponse(error: unknown): HttpResponse {
  return isKeywardError(error) ? errorResponse(error) : failureResponse('INTERNAL')
}

/** The framework-neutral HTTP layer: one handler for every adapter. */
export class HttpHandler {
  readonly #routes = new Map<string, Map<string, Route>>()

  constructor(
    private readonly engine: KeywardInternals,
    private readonly authenticator: Authenticator,
    private readonly basePath: string,
    private readonly bodyLimit: number,
    private readonly baseUrl: string | undefined,
  ) {
    const add = (method: string, path: string, auth: boolean, run: RouteHandler) => {
      const byMethod = this.#routes.get(basePath + path) ?? new Map<string, Route>()
      byMethod.set(method, { method, path, auth, run })
      // HEAD is served wherever GET is, as RFC 9110 asks and the host frameworks do for their own
      // routes; the server drops the body. Allow then lists it after GET.
      if (method === 'GET') byMethod.set('HEAD', { method, path, auth, run })
      this.#routes.set(basePath + path, byMethod)
    }
    add('POST', '/accounts/auth-with-api-key', false, (request) => this.#authWithApiKey(request))
    add('POST', '/accounts/refresh', false, (request) => this.#refresh(request))
    add('POST', '/accounts/api-key', true, (request, principal) => this.#issueKey(request, principal))
    add('GET', '/accounts/api-key', true, (_request, principal) => this.#listKeys(principal))
    add('DELETE', '/accounts/api-key', true, (request, principal) => this.#deleteKey(request, principal))
    add('POST', '/accounts/generate-totp-key', true, (_request, principal) => this.#generateTotp(principal))
    add('POST', '/accounts/verify-totp', true, (request, principal) => this.#verifyTotp(request, principal))
  }

  /** Whether a path belongs to keyward (any method). */
  owns(path: string): boolean {
    return this.#routes.has(path)
  }

  /** The response for one of keyward's routes, or undefined when the path is not keyward's. */
  async handle(described: HttpRequest): Promise<HttpResponse | undefined> {
    const byMethod = this.#routes.get(described.path)
    if (byMethod === undefined) return undefined
    const route = byMethod.get(described.method.toUpperCase())
    if (route === undefined) {
      const allowed = [...byMethod.keys()].join(', ')
      const response = failureResponse('METHOD_NOT_ALLOWED', {
        message: `Use ${allowed} on ${described.path}`,
      })
      return { ...response, headers: { ...response.headers, allow: allowed } }
    }
    // One on a connection with no address is limited in the unresolved group, as the guard does.
    const ip = requestAddress(described)
    const request = ip === described.ip ? described : { ...described, ip }
    try {
      let principal: Principal | undefined
      if (route.auth) {
        const result: AuthResult = await this.authenticator.authenticate(request)
        if (!result.ok) return authFailureResponse(result.failure)
        principal = result.principal
      }
      return await route.run(request, principal as Principal)
    } catch (error) {
      return this.engine.answerThrown(error)
    }
  }

  async #authWithApiKey(request: HttpRequest): Promise<HttpResponse> {
    const body = readJsonObject(request.body, request.headers, this.bodyLimit)
    const apiKey = requiredString(body, 'api_key')
    return jsonResponse(200, { data: await this.engine.authenticateWithApiKey(apiKey, { ip: request.ip }) })
  }

  async #refresh(request: HttpRequest): Promise<HttpResponse> {
    const body = readJsonObject(request.body, request.headers, this.bodyLimit)
    const token = requiredString(body, 'refresh_token')
    return jsonResponse(200, { data: await this.engine.refreshTokens(token, { ip: request.ip }) })
  }

  async #issueKey(request: HttpRequest, principal: Principal): Promise<HttpResponse> {
    const body = readJsonObject(request.body, request.headers, this.bodyLimit)
    const issued = await this.engine.issueKey(principal.userId, { name: field(body, 'key_name') })
    const data = {
      id: issued.id,
      key: issued.key,
      name: issued.name,
      preview: issued.preview,
      created_on: issued.createdOn.toISOString(),
      expires_on: issued.expiresOn.toISOString(),
      creds: credentialsDocument(issued, this.#baseUrl(request)),
    }
    return jsonResponse(200, { data })
  }

  async #listKeys(principal: Principal): Promise<HttpResponse> {
    const records = await this.engine.listKeys(principal.userId)
    return jsonResponse(200, { data: records.map(keySummary) })
  }

  async #deleteKey(request: HttpRequest, principal: Principal): Promise<HttpResponse> {
    const key = queryString(request.query, 'key')
    const id = queryString(request.query, 'id')
    if (key === undefined && id === undefined) {
      throw new KeywardError('INVALID_INPUT', 'Name the key to delete with ?key=<full key> or ?id=<key id>', {
        field: 'key',
      })
    }
    if (key !== undefined && id !== undefined) {
      throw new KeywardError('INVALID_INPUT', 'Give either ?key= or ?id=, not both', { field: 'id' })
    }
    const record = await this.engine.deleteKey(
      principal.userId,
      key !== undefined ? { key } : { id: id as string },
    )
    if (record === null) throw new KeywardError('KEY_NOT_FOUND', 'You have no API key with that id or value')
    return jsonResponse(200, { data: { ...keySummary(record), key: record.preview } })
  }

  async #generateTotp(principal: Principal): Promise<HttpResponse> {
    return jsonResponse(200, { data: await this.engine.generateTotpKeyFor(principal.userId, principal.user) })
  }

  async #verifyTotp(request: HttpRequest, principal: Principal): Promise<HttpResponse> {
    const body = readJsonObject(request.body, request.headers, this.bodyLimit)
    await this.engine.verifyTotp(principal.userId, field(body, 'code'), { ip: request.ip })
    return jsonResponse(200, { data: { totp_enabled: true } })
  }

  #baseUrl(request: HttpRequest): string | null {
    if (this.baseUrl !== undefined) return this.baseUrl
    const host = request.headers.host
    if (typeof host !== 'string' || !/^[A-Za-z0-9.:[\]-]+$/.test(host)) return null
    const protocol = request.protocol === 'https' ? 'https' : 'http'
    return `${protocol}://${host}${request.mountedAt ?? ''}${this.basePath}`
  }
}
