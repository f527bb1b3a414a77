import { parse as parseQuery } from 'node:querystring'
import {
  type AuthenticateOptions,
  bodyErrorResponse,
  checkGuardOptions,
  type GuardOutcome,
  type HttpResponse,
  type Keyward,
  KeywardConfigError,
  type Principal,
  readBody,
} from '@keyward/core'
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { setAuth } from './auth-slot.js'

declare global {
  namespace Express {
    interface Request {
      /** Who made the request; set by `requireAuth` on the routes it guards. */
      auth: Principal
    }
  }
}

/**
 * The guard, as a handler of any route. Generic, so that it takes the route's types (the path
 * parameters Express infers from `'/agents/:id'` above all) rather than pinning its own on the
 * handlers after it, and a `RequestHandler` where one is asked for.
 */
export type KeywardGuard = <
  P,
  ResBody,
  ReqBody,
  ReqQuery,
  // biome-ignore lint/suspicious/noExplicitAny: the constraint Express puts on its own `Locals`
  LocalsObj extends Record<string, any>,
>(
  req: Request<P, ResBody, ReqBody, ReqQuery, LocalsObj>,
  res: Response<ResBody, LocalsObj>,
  next: NextFunction,
) => void

export interface KeywardExpress {
  /** Serves keyward's routes and passes every other request on with `next()`. */
  readonly routes: RequestHandler
  /** Guards a route: sets `req.auth`, or answers 400/401/403/429/503 itself (500 for a malformed user from the directory). */
  requireAuth(options?: AuthenticateOptions): KeywardGuard
  /**
   * The guard and the route's handler in one, `app.get(path, auth.protect(handler))`: what
   * `requireAuth` followed by the handler does, without the step between the two that every
   * handler costs Express on every request. What the handler throws, or a promise it returns
   * rejects with, goes to `next(error)`, on Express 4 as on 5.
   */
  protect<P = Request['params'], ResBody = unknown, ReqBody = unknown, ReqQuery = Request['query']>(
    handler: RequestHandler<P, ResBody, ReqBody, ReqQuery>,
  ): RequestHandler<P, ResBody, ReqBody, ReqQuery>
  protect<P = Request['params'], ResBody = unknown, ReqBody = unknown, ReqQuery = Request['query']>(
    options: AuthenticateOptions,
    handler: RequestHandler<P, ResBody, ReqBody, ReqQuery>,
  ): RequestHandler<P, ResBody, ReqBody, ReqQuery>
}

/** What an admitted request goes on to: the next handler, or the handler the guard protects. */
type Admitted = (req: Request, res: Response, next: NextFunction) => unknown

/** Copies the core's answer onto the response as is; JSON serialised once, no ETag. */
function send(res: Response, { status, headers, body }: HttpResponse): void {
  const json = JSON.stringify(body)
  res.status(status)
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value)
  // Node derives Content-Length from the body it writes and writes none to HEAD: set here, so that
  // HEAD's headers are GET's, as on Fastify and Koa.
  res.setHeader('content-length', Buffer.byteLength(json))
  res.end(json)
}

const callNext: Admitted = (_req, _res, next) => next()

/**
 * The query of keyward's own routes, parsed from the request target as Koa and Fastify parse theirs
 * (Node's querystring: `?id[]=x` is the name `id[]`, a repeated name an array), whatever the app's
 * `query parser` setting: Express 4's default (and `extended`) would make `id[]` an array named `id`,
 * and `false` would leave no query at all.
 */
function queryOf(url: string): Record<string, unknown> {
  const start = url.indexOf('?')
  return parseQuery(start === -1 ? '' : url.slice(start + 1))
}

/**
 * Hands the request on. A rejection of what the handler returns goes to `next(error)` here, once,
 * as Express 5 does for a handler of its own: any object with a `then`, not only a native promise
 * (Express 4 would leave it unhandled); a throw reaches Express's own catch.
 */
function proceed(admitted: Admitted, req: Request, res: Response, next: NextFunction): void {
  const result: unknown = admitted(req, res, next)
  if (isThenable(result)) result.then(undefined, (error) => next(error || new Error('Rejected promise')))
}

/** Anything with a `then`: Express 5's test for a handler's promise, and the core's isPromiseLike. */
const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  typeof (value as { then?: unknown } | null | undefined)?.then === 'function'

function admit(outcome: GuardOutcome, req: Request, res: Response, next: NextFunction, admitted: Admitted) {
  if (!outcome.ok) return send(res, outcome.response)
  setAuth(req, outcome.auth)
  proceed(admitted, req, res, next)
}

/** Express adapter: mounts keyward's routes and guards the host's. */
export function keywardExpress(keyward: Keyward): KeywardExpress {
  if (typeof keyward?.handle !== 'function' || typeof keyward.guard !== 'function') {
    throw new KeywardConfigError('keyward', 'must be the engine that createKeyward() returned')
  }

  // `path` is below the prefix the app mounted the routes at (`app.use('/api', auth.routes)`), and
  // `req.baseUrl` that prefix, as koa-mount and a Fastify scope's prefix give them to the core.
  async function serve(path: string, req: Request, res: Response, next: NextFunction): Promise<void> {
    let body: unknown
    try {
      body = await readBody(req, req.body, keyward.bodyLimit)
    } catch (error) {
      // The body is too large (the core's 413) or the client went away mid-body (nobody to answer).
      const refusal = bodyErrorResponse(error)
      return refusal === undefined ? void req.destroy() : send(res, refusal)
    }
    const response = await keyward.handle({
      method: req.method,
      path,
      mountedAt: req.baseUrl,
      query: queryOf(req.url),
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      body,
      ip: req.ip,
      socket: req.socket,
      protocol: req.protocol,
    })
    if (response === undefined) return next()
    send(res, response)
  }

  // Every request of the host's passes here: only keyward's own go on to a promise. Express 5
  // passes a rejected one to the error handler, Express 4 leaves it unhandled: this does it on both.
  const routes: RequestHandler = (req, res, next) => {
    const path = req.path
    if (!keyward.owns(path)) return next()
    serve(path, req, res, next).catch(next)
  }

  // Not an async function: the core answers a warm key without a promise, and so does this, first
  // from memory alone (admitFromMemory), else through the full guard. The request itself is handed
  // over: the core reads its headers (`req.headers`, which Node's server builds for every HTTP/1.1
  // request, and `rawHeaders`) and its `socket`, and reads Express's `ip` getter only if it needs
  // the address. After a store read, a throw of the handler's goes to `next(error)` too.
  const guardThen = (options: AuthenticateOptions | undefined, admitted: Admitted): RequestHandler =>
    function keywardGuard(req, res, next) {
      const known = keyward.admitFromMemory(req, options)
      if (known !== undefined) {
        setAuth(req, known)
        proceed(admitted, req, res, next)
        return
      }
      const outcome = keyward.guard(req, options)
      if (outcome instanceof Promise)
        outcome.then((settled) => admit(settled, req, res, next, admitted)).then(undefined, next)
      else admit(outcome, req, res, next, admitted)
    }

  // The guard reads no route's own types: what it is declared as leaves them all to Express.
  const requireAuth = (options?: AuthenticateOptions) =>
    guardThen(checkGuardOptions(options, 'requireAuth(options)'), callNext) as KeywardGuard

  function protect(...args: [Admitted] | [AuthenticateOptions, Admitted]): RequestHandler {
    const [options, handler] = args.length === 1 ? [undefined, args[0]] : args
    // Express calls a function of four parameters only with an error: it cannot be a route's handler.
    if (typeof handler !== 'function' || handler.length > 3)
      throw new KeywardConfigError('handler', 'of protect() must be a request handler (req, res, next)')
    return guardThen(checkGuardOptions(options, 'protect(options)'), handler)
  }

  return { routes, requireAuth, protect: protect as KeywardExpress['protect'] }
}
