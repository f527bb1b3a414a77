import type { HttpResponse, Keyward } from '@keyward/core'
import type { FastifyReply, FastifyRequest } from 'fastify'

/** Copies the core's answer onto the reply as is, JSON serialised once. */
export function send(reply: FastifyReply, { status, headers, body }: HttpResponse): FastifyReply {
  return reply.code(status).headers(headers).send(JSON.stringify(body))
}

/** Hands a request to the core with the body the child context read; a path that is not keyward's goes to the host's 404. */
export async function serve(
  keyward: Keyward,
  request: FastifyRequest,
  reply: FastifyReply,
  body: unknown,
): Promise<FastifyReply> {
  const query = request.url.indexOf('?')
  const path = query === -1 ? request.url : request.url.slice(0, query)
  const response = await keyward.handle({
    method: request.method,
    path,
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
