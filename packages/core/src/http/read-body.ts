import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import type { Readable } from 'node:stream'
import { KeywardError } from '../errors.js'
import { payloadTooLarge } from './body.js'
import { failureResponse } from './failures.js'
import type { HttpResponse } from './types.js'

/**
 * Reads a Node request body up to `limit` bytes, for adapters whose framework has not read it.
 * Larger bodies are refused as soon as the declared length or the bytes read pass the limit.
 * Also takes a stream a framework put in front of the request (Fastify's preParsing hooks,
 * e.g. decompression), which has no headers: then only the bytes read count. Rejects once the
 * request is gone (the client aborted), also when it went before this was called.
 */
export function readRawBody(
  request: Readable & { readonly headers?: IncomingHttpHeaders },
  limit: number,
): Promise<Buffer> {
  const declared = Number(request.headers?.['content-length'])
  if (declared > limit) return Promise.reject(payloadTooLarge(limit))
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) {
        cleanup()
        request.resume()
        reject(payloadTooLarge(limit))
        return
      }
      chunks.push(chunk)
    }
    const onEnd = () => {
      cleanup()
      resolve(Buffer.concat(chunks, size))
    }
    const onError = (error: Error) => {
      cleanup()
      reject(error)
    }
    // Closed before its end: the client went away. Its 'error' may have come and gone already,
    // while the host awaited something of its own before keyward's routes were asked.
    const onClose = () => onError(request.errored ?? new Error('the request closed before its body ended'))
    const cleanup = () => {
      request.off('data', onData)
      request.off('end', onEnd)
      request.off('error', onError)
      request.off('close', onClose)
    }
    request.on('data', onData)
    request.on('end', onEnd)
    request.on('error', onError)
    request.on('close', onClose)
    if (request.destroyed) {
      onClose()
      return
    }
    // A stream paused by whoever handed it over (@fastify/compress's decompressor) does not
    // flow again for a new 'data' listener: it would never end.
    request.resume()
  })
}

/** Methods whose requests carry no body to read (Fastify treats them so too). */
const BODYLESS = new Set(['GET', 'HEAD', 'TRACE'])

/**
 * The body to hand to `handle` for a Node request: what the host's own parser already produced,
 * nothing for bodyless methods, else the raw bytes up to `limit`. Rejects with a KeywardError
 * (413) for a larger body, or with the stream's error when the client went away.
 */
export function readBody(request: IncomingMessage, parsed: unknown, limit: number): Promise<unknown> {
  if (BODYLESS.has(request.method ?? '') || request.readableEnded) return Promise.resolve(parsed)
  if (parsed !== undefined && !isEmptyPlainObject(parsed)) return Promise.resolve(parsed)
  return readRawBody(request, limit)
}

/**
 * An empty `{}` over an unread stream is a host parser that passed the request by (another media
 * type): body-parser 1 (Express 4) and koa-bodyparser set it before they look at the type. The
 * bytes are still there to read; one that parsed an empty object read the stream to its end.
 */
function isEmptyPlainObject(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false
  const prototype = Object.getPrototypeOf(value)
  return (prototype === Object.prototype || prototype === null) && Object.keys(value).length === 0
}

/** The response for a body that could not be read, or undefined when there is nobody to answer. */
export const bodyErrorResponse = (error: unknown): HttpResponse | undefined =>
  error instanceof KeywardError ? failureResponse(error.code, { message: error.message }) : undefined
