import type { HttpResponse, Keyward } from '@keyward/core'
import type { FastifyReply, FastifyRequest } from 'fastify'

/** Copies the core's answer onto the reply as is, JSON serialised once. */
export function send(reply: FastifyReply, { status, headers, body }: HttpResponse): FastifyReply {
  return reply.code(status).headers(headers).send(JSON.stringify(body))
}

/**
 * The path of a request target. Fastify's `request.url` is the target as sent, which may be in
 * absolute form (`http://host/path`, RFC 9112 3.2.2) where its router matched the path alone.
 */
function targetPath(url: string): string {
  const query = url.indexOf('?')
  const path = query === -1 ? url : url.slice(0, query)
  if (path.startsWith('/')) return path
  const authority = path.indexOf('://')
  const start = authority === -1 ? -1 : path.indexOf('/', authority + 3)
  return start === -1 ? '/' : path.slice(start)
}

/** A segment of a route prefix that stands for any one segment: a parameter (`:tenant`) or a wildcard. */
const isParametric = (segment: string) => segment.includes(':') || segment.includes('*')

/**
 * A path split at the scope's prefix, segment by segment: the prefix as the request spelled it (a
 * tenant in place of `/:tenant`) and the path below it, which the core answers. A path that does
 * not spell the prefix exactly (another case, a doubled slash, which Fastify's router options may
 * accept) is handed on whole, so that the core does not own it and it reaches the host's 404.
 */
function splitAtPrefix(path: string, prefix: string): { mountedAt: string; below: string } {
  const pattern = prefix.split('/')
  const segments = path.split('/')
  const spelled =
    segments.length > pattern.length &&
    pattern.every((part, i) => (isParametric(part) ? segments[i] !== '' : segments[i] === part))
  if (!spelled) return { mountedAt: prefix, below: path }
  const mountedAt = segments.slice(0, pattern.length).join('/')
  return { mountedAt, below: path.slice(mountedAt.length) }
}

/**
 * Hands a request to the core with the body the child context read; a path that is not keyward's
 * goes to the host's 404. `prefix` is that of the scope the plugin was registered in, without a
 * trailing slash: the core does not see it, as a path an Express app is mounted at.
 */
export async function serve(
  keyward: Keyward,
  request: FastifyRequest,
  reply: FastifyReply,
  body: unknown,
  prefix: string,
): Promise<FastifyReply> {
  const { mountedAt, below } = splitAtPrefix(targetPath(request.url), prefix)
  const response = await keyward.handle({
    method: request.method,
    path: below,
    mountedAt,
    query: request.query as Record<string, unknown>,
    headers: request.headers,
    rawHeaders: request.raw.rawHeaders,
    body,
    ip: request.ip,
    socket: request.raw.socket,
    protocol: request.protocol,
  })
  if (response === undefined) {
    reply.callNotFound()
    return reply
  }
  return send(reply, response)
}
