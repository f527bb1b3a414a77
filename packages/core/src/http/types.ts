/** Header values as Node's http module gives them (lower-case names). */
export type HeaderBag = Readonly<Record<string, string | string[] | undefined>>

/** What the guard needs of a request: its headers, as Node's `rawHeaders` or as `headers`. */
export interface GuardRequest {
  readonly headers?: HeaderBag
  /** Node's `req.rawHeaders` (name, value, ...): preferred when given; it shows repeated headers. */
  readonly rawHeaders?: readonly string[] | undefined
  /**
   * The client address, as the framework's trusted-proxy setting resolved it. With none, a request
   * that has a `socket` is limited by the socket's `remoteAddress` (plain `node:http`, no proxy in
   * front), or, with none either (a Unix socket), with every other such request, as `'unresolved'`;
   * a call with neither `ip` nor `socket` (a host's own, or a fetch runtime's that passed no
   * address) is not limited by address.
   */
  readonly ip?: string | undefined
  /**
   * The connection the request came on (Node's `req.socket`). The guard remembers the last API
   * key verified on it, so that a keep-alive client's next requests skip the SHA-256.
   */
  readonly socket?: object | undefined
}

/**
 * What the guard's warm path (`admitFromMemory`) reads of a request. Node's `http.IncomingMessage`
 * has all three: adapters pass it as is (Fastify's `request.raw`, Express's `req`, Koa's
 * `ctx.req`). X-Api-Key is read from `headers`, as Node parsed them; Authorization from
 * `rawHeaders`, which show a repeated one (Node keeps only the first in `headers`).
 */
export interface NodeRequest {
  readonly headers: HeaderBag
  readonly rawHeaders: readonly string[]
  /** The connection: the warm path knows the key it verified last. */
  readonly socket: object | null
}

/** A request as a framework adapter describes it to the core. */
export interface HttpRequest extends GuardRequest {
  readonly headers: HeaderBag
  readonly method: string
  /** The path without the query string. */
  readonly path: string
  /**
   * A prefix the framework took off `path` before the adapter saw it (a Fastify scope's, or
   * koa-mount's), so that the credentials document's base URL has it; `basePath` comes after it.
   */
  readonly mountedAt?: string | undefined
  readonly query: Readonly<Record<string, unknown>>
  /**
   * The raw body (a string, or bytes: a Buffer, an ArrayBuffer, any view) or the value the host's
   * own JSON parser already produced. A stream or a Blob is refused: read it first.
   */
  readonly body: unknown
  /** `http` or `https`, as the framework resolved it; used for the credentials document's base URL. */
  readonly protocol?: string | undefined
}

/** The core's answer; adapters copy it onto the framework's response as is. */
export interface HttpResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: unknown
}
