import type { IncomingMessage } from 'node:http'
import { bodyErrorResponse, type Keyward, ROUTES, readRawBody } from '@keyward/core'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { send, serve } from './reply.js'

/** Fastify refuses these before any body parser runs; Express and Koa leave them to the core. */
const REFUSED_BEFORE_PARSING = new Set([
  'FST_ERR_CTP_INVALID_MEDIA_TYPE',
  'FST_ERR_ROUTE_MISSING_CONTENT_TYPE',
])

/** A body the core refused to read (413) is answered; anything else is the host's to handle. */
function answerBodyError(reply: FastifyReply, error: unknown): FastifyReply {
  const refusal = bodyErrorResponse(error)
  if (refusal === undefined) throw error
  return send(reply, refusal)
}

/**
 * keyward's routes, in an encapsulated child context so that its body handling never reaches
 * the host's routes. Every method is registered on every path: the core answers 405 itself.
 * Bodies are read by the core's readRawBody, as on Express and Koa, so the limit and the 413
 * are the same on all three.
 */
export function keywardRoutes(keyward: Keyward) {
  return async function routes(child: FastifyInstance): Promise<void> {
    const prefix = child.prefix.replace(/\/+$/, '')
    child.removeAllContentTypeParsers()
    // `payload` is the request, or the stream a host's preParsing hook (e.g. decompression) returned.
    child.addContentTypeParser('*', (_request: FastifyRequest, payload: IncomingMessage) =>
      readRawBody(payload, keyward.bodyLimit),
    )

    child.setErrorHandler<FastifyError>(async (error, request, reply) => {
      if (typeof error.code === 'string' && REFUSED_BEFORE_PARSING.has(error.code)) {
        try {
          const body = await readRawBody(request.raw, keyward.bodyLimit)
          return await serve(keyward, request, reply, body, prefix)
        } catch (readError) {
          return answerBodyError(reply, readError)
        }
      }
      return answerBodyError(reply, error)
    })

    const paths = new Set(ROUTES.map((route) => keyward.basePath + route.path))
    for (const path of paths) {
      child.all(path, (request, reply) => serve(keyward, request, reply, request.body, prefix))
    }
  }
}
