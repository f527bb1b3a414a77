/**
 * A body read over a real connection whose client goes away. The host may await something of its
 * own before keyward reads (a session, a rate limit): by then the request may be gone, and its
 * 'error' already emitted.
 */
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { readBody, readRawBody } from '@keyward/core'
import { afterEach, describe, expect, it } from 'vitest'

let closeServer: (() => Promise<void>) | undefined
afterEach(() => closeServer?.())

/** A server that hands each request to `onRequest`; resolves with its port. */
async function listen(onRequest: (request: IncomingMessage) => void): Promise<number> {
  const server = createServer((request) => onRequest(request))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  closeServer = () =>
    new Promise((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  return (server.address() as AddressInfo).port
}

/** Sends the start of a body, then resets the connection. */
function abortMidBody(port: number): void {
  const client = httpRequest({
    port,
    host: '127.0.0.1',
    method: 'POST',
    path: '/',
    headers: { 'content-length': '100' },
  })
  client.on('error', () => {})
  client.write('{"key_name":')
  setTimeout(() => client.destroy(), 50)
}

const settled = (promise: Promise<unknown>) =>
  promise.then(
    () => 'resolved',
    () => 'rejected',
  )

describe('reading the body of a request whose client went away', () => {
  it('rejects when the request was gone before the read began', async () => {
    const outcome = new Promise<string>((resolve) => {
      void listen((request) => {
        request.on('error', () => {})
        request.on('close', () => resolve(settled(readBody(request, undefined, 16_384))))
      }).then(abortMidBody)
    })
    expect(await outcome).toBe('rejected')
  })

  it('rejects when the client goes away during the read', async () => {
    const outcome = new Promise<string>((resolve) => {
      void listen((request) => resolve(settled(readRawBody(request, 16_384)))).then(abortMidBody)
    })
    expect(await outcome).toBe('rejected')
  })
})
