import {
  type AuthenticateOptions,
  bodyErrorResponse,
  checkGuardOptions,
  type GuardOutcome,
  type GuardRequest,
  type HttpResponse,
  type Keyward,
  KeywardConfigError,
  type Principal,
  readBody,
} from '@keyward/core'
import type { Context, DefaultContext, DefaultState, Middleware, Next } from 'koa'

/** What `requireAuth` adds to `ctx.state`. */
export interface KeywardState {
  /** Who made the request; set by `requireAuth` on the routes it guards. */
  auth: Principal
}

declare module 'koa' {
  interface DefaultState extends KeywardState {}
}

export interface KeywardKoa {
  /** Serves keyward's routes and passes every other request on to `next()`. */
  readonly routes: Middleware
  /** Guards a route: sets `ctx.state.auth`, or answers 400/401/403/429/503 itself (500 for a malformed user from the directory). */
  requireAuth(options?: AuthenticateOptions): Middleware<DefaultState & KeywardState>
  /**
   * The guard and the route's handler in one middleware, `router.get(path, auth.protect(handler))`:
   * what `requireAuth` followed by the handler does, without the step between the two that every
   * middleware costs Koa (and @koa/router) on every request.
   */
  protect<StateT = DefaultState, ContextT = DefaultContext, BodyT = unknown>(
    handler: Middleware<StateT & KeywardState, ContextT, BodyT>,
  ): Middleware<StateT & KeywardState, ContextT, BodyT>
  protect<StateT = DefaultState, ContextT = DefaultContext, BodyT = unknown>(
    options: AuthenticateOptions,
    handler: Middleware<StateT & KeywardState, ContextT, BodyT>,
  ): Middleware<StateT & KeywardState, ContextT, BodyT>
}

/** What an admitted request goes on to: the next middleware, or the handler the guard protects. */
type Admitted = (ctx: Context, next: Next) => unknown

/** Copies the core's answer onto the response as is, JSON serialised once. */
function send(ctx: Context, { status, headers, body }: HttpResponse): void {
  ctx.status = status
  ctx.set(headers)
  ctx.body = JSON.stringify(body)
}

/** What the core reads of a request: the raw header lines, its connection, and the address only if it must. */
class GuardView implements GuardRequest {
  constructor(private readonly ctx: Context) {}
  get rawHeaders(): readonly string[] {
    return this.ctx.req.rawHeaders
  }
  get ip(): string {
    return this.ctx.ip
  }
  get socket(): object {
    return this.ctx.req.socket
  }
}

const callNext: Admitted = (_ctx, next) => next()

function admit(outcome: GuardOutcome, ctx: Context, next: Next, admitted: Admitted): unknown {
  if (!outcome.ok) return send(ctx, outcome.response)
  ctx.state.auth = outcome.auth
  return admitted(ctx, next)
}

/** The prefix koa-mount took off `ctx.path` (it sets `ctx.mountPath`), for the credentials' base URL. */
function mountedAt(ctx: Context): string | undefined {
  const prefix = (ctx as { mountPath?: unknown }).mountPath
  return typeof prefix === 'string' ? prefix : undefined
}

/** Koa adapter: mounts keyward's routes and guards the host's, with or without @koa/router. */
export function keywardKoa(keyward: Keyward): KeywardKoa {
  if (typeof keyward?.handle !== 'function' || typeof keyward.guard !== 'function') {
    throw new KeywardConfigError('keyward', 'must be the engine that createKeyward() returned')
  }

  async function serve(ctx: Context, next: Next): Promise<unknown> {
    let body: unknown
    try {
      body = await readBody(ctx.req, (ctx.request as { body?: unknown }).body, keyward.bodyLimit)
    } catch (error) {
      // The body is too large (the core's 413) or the client went away mid-body (nobody to answer).
      const refusal = bodyErrorResponse(error)
      return refusal === undefined ? void ctx.req.destroy() : send(ctx, refusal)
    }
    const response = await keyward.handle({
      method: ctx.method,
      path: ctx.path,
      mountedAt: mountedAt(ctx),
      query: ctx.query,
      headers: ctx.headers,
      rawHeaders: ctx.req.rawHeaders,
      body,
      ip: ctx.ip,
      socket: ctx.req.socket,
      protocol: ctx.protocol,
    })
    if (response === undefined) return next()
    send(ctx, response)
  }

  // Every request of the host's passes here: only keyward's own go on to a promise of this one's.
  const routes: Middleware = (ctx, next) => (keyward.owns(ctx.path) ? serve(ctx, next) : next())

  // The core answers a warm key without a promise, first from memory alone (admitFromMemory), else
  // through the full guard; only a store read needs a promise.
  const guardThen = (options: AuthenticateOptions | undefined, admitted: Admitted): Middleware =>
    function keywardGuard(ctx, next) {
      const known = keyward.admitFromMemory(ctx.req, options)
      if (known !== undefined) {
        ctx.state.auth = known
        return admitted(ctx, next)
      }
      const outcome = keyward.guard(new GuardView(ctx), options)
      return outcome instanceof Promise
        ? outcome.then((settled) => admit(settled, ctx, next, admitted))
        : admit(outcome, ctx, next, admitted)
    }

  const requireAuth = (options?: AuthenticateOptions) =>
    guardThen(checkGuardOptions(options, 'requireAuth(options)'), callNext)

  function protect(...args: [Admitted] | [AuthenticateOptions, Admitted]): Middleware {
    const [options, handler] = args.length === 1 ? [undefined, args[0]] : args
    if (typeof handler !== 'function')
      throw new KeywardConfigError('handler', 'of protect() must be a middleware (ctx, next)')
    return guardThen(checkGuardOptions(options, 'protect(options)'), handler)
  }

  return { routes, requireAuth, protect: protect as KeywardKoa['protect'] }
}
