import type { HttpResponse, Keyward } from '@keyward/core'
import type { FastifyReply, FastifyRequest } from 'fastify'

/** Copies the core's answer onto the reply as is, JSON serialised once. */
export function send(reply: FastifyReply, { status, headers, body }: HttpResponse): FastifyReply {
  return reply.code(status).headers(headers).send(JSON.stringify(body))
}

/**
 * The path of a request target below the scope's prefix. Fastify's `request.url` is the target as
 * sent, which may be in absolute form (`http://host/path`, RFC 9112 3.2.2) where its router
 * matched the path alone.
 */
function targetPath(url: string, mountedAt: string): string {
  const query = url.indexOf('?')
  let path = query === -1 ? url : url.slice(0, query)
  if (!path.startsWith('/')) {
    const authority = path.indexOf('://')
    const start = authority === -1 ? -1 : path.indexOf('/', authority + 3)
    path = start === -1 ? '/' : path.slice(start)
  }
  return mountedAt !== '' && path.startsWith(mountedAt) ? path.slice(mountedAt.length) : path
}

/**
 * Hands a request to the core with the body the child context read; a path that is not keyward's
 * goes to the host's 404. `mountedAt` is the prefix of the scope the plugin was registered in,
 * without a trailing slash, which the core does not see, as a path an Express app is mounted at.
 */
export async function serve(
  keyward: Keyward,
  request: FastifyRequest,
  reply: FastifyReply,
  body: unknown,
  mountedAt: string,
): Promise<FastifyReply> {
  const response = await keyward.handle({
    method: request.method,
    path: targetPath(request.url, mountedAt),
    mountedAt,
    query: request.query as Record<string, unknown>,
    headers: request.headers,
    rawHeaders: request.raw.rawHeaders,
    body,
    ip: request.ip,
    protocol: request.protocol,
  })
  if (response === undefined) {
    reply.callNotFound()
    return reply
  }
  return send(reply, response)
}
