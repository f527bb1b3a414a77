import { failureResponse } from '@keyward/core'

/** An answer in plain form, which each server copies onto its framework's response as it is. */
export interface ExampleResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: unknown
}

/** A wrong method on /login, answered as keyward's own routes answer one. */
export const loginMethodNotAllowed: ExampleResponse = failureResponse('METHOD_NOT_ALLOWED', {
  message: 'Use POST on /login',
  headers: { allow: 'POST' },
})

/** A body that is not JSON, which Fastify refuses itself and Express and Koa would pass by. */
export const notJsonBody: ExampleResponse = failureResponse('UNSUPPORTED_MEDIA_TYPE')

/**
 * The answer to what a server threw for a request: its body parser's refusal, by the status the
 * error carries (`status` from http-errors on Express and Koa, `statusCode` on Fastify), so the three
 * answer alike; anything else is a bug, logged here and answered 500 without its details.
 */
export function thrownResponse(error: unknown): ExampleResponse {
  const { status, statusCode } = (typeof error === 'object' && error !== null ? error : {}) as {
    status?: unknown
    statusCode?: unknown
  }
  switch (status ?? statusCode) {
    case 400:
      return failureResponse('MALFORMED_JSON')
    case 413:
      return failureResponse('PAYLOAD_TOO_LARGE', { message: 'The request body is too large' })
    case 415:
      return notJsonBody
  }
  console.error('example: a request failed:', error)
  return failureResponse('INTERNAL')
}
