import {
  type AuthenticateOptions,
  failureResponse,
  type GuardOutcome,
  type HttpResponse,
  type Keyward,
  KeywardConfigError,
  KeywardError,
  type Principal,
  readRawBody,
} from '@keyward/core'
import type { Request, RequestHandler, Response } from 'express'

declare global {
  namespace Express {
    interface Request {
      /** Who made the request; set by `requireAuth` on the routes it guards. */
      auth: Principal
    }
  }
}

export interface KeywardExpress {
  /** Serves keyward's routes and passes every other request on with `next()`. */
  readonly routes: RequestHandler
  /** Guards a route: sets `req.auth`, or answers 400/401/403/429/503 itself. */
  requireAuth(options?: AuthenticateOptions): RequestHandler
}

/** Methods whose requests carry no body to read (as Fastify treats them too). */
const BODYLESS = new Set(['GET', 'HEAD', 'TRACE'])

/** Copies the core's answer onto the response as is; JSON serialised once, no ETag. */
function send(res: Response, { status, headers, body }: HttpResponse): void {
  res.status(status)
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value)
  res.end(JSON.stringify(body))
}

/** The body for the core: what a host parser already produced, else the raw bytes. */
async function bodyOf(req: Request, limit: number): Promise<unknown> {
  if (req.body !== undefined || BODYLESS.has(req.method) || req.readableEnded) return req.body
  return readRawBody(req, limit)
}

/** Express adapter: mounts keyward's routes and guards the host's. */
export function keywardExpress(keyward: Keyward): KeywardExpress {
  if (typeof keyward?.handle !== 'function' || typeof keyward.guard !== 'function') {
    throw new KeywardConfigError('keyward', 'must be the engine that createKeyward() returned')
  }

  const routes: RequestHandler = async (req, res, next) => {
    const path = req.baseUrl + req.path
    if (!keyward.owns(path)) return next()
    let body: unknown
    try {
      body = await bodyOf(req, keyward.bodyLimit)
    } catch (error) {
      // The body is too large (a KeywardError from the core) or the client went away mid-body.
      if (error instanceof KeywardError)
        return send(res, failureResponse(error.code, { message: error.message }))
      return void req.destroy()
    }
    const response = await keyward.handle({
      method: req.method,
      path,
      query: req.query,
      headers: req.headers,
      body,
      ip: req.ip,
      protocol: req.protocol,
    })
    if (response === undefined) return next()
    send(res, response)
  }

  // Not an async function: the core answers a warm key without a promise, and so does this.
  const requireAuth = (options?: AuthenticateOptions): RequestHandler => {
    return (req, res, next) => {
      const admit = (outcome: GuardOutcome) => {
        if (!outcome.ok) return send(res, outcome.response)
        req.auth = outcome.auth
        next()
      }
      const outcome = keyward.guard({ headers: req.headers, ip: req.ip }, options)
      if (outcome instanceof Promise) outcome.then(admit, next)
      else admit(outcome)
    }
  }

  return { routes, requireAuth }
}
