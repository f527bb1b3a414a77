import type { IncomingHttpHeaders } from 'node:http'
import type { Readable } from 'node:stream'
import { payloadTooLarge } from './body.js'

/**
 * Reads a Node request body up to `limit` bytes, for adapters whose framework has not read it.
 * Larger bodies are refused as soon as the declared length or the bytes read pass the limit.
 * Also takes a stream a framework put in front of the request (Fastify's preParsing hooks,
 * e.g. decompression), which has no headers: then only the bytes read count.
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
    const cleanup = () => {
      request.off('data', onData)
      request.off('end', onEnd)
      request.off('error', onError)
    }
    request.on('data', onData)
    request.on('end', onEnd)
    request.on('error', onError)
  })
}
