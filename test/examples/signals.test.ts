/**
 * Ctrl-C stops an example as SIGTERM does (the other tests stop with SIGTERM): exit code 0, the
 * store closed and the data folder's lock released. A request in flight is answered first.
 */
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { expect, it, vi } from 'vitest'
import { dataFolders } from './support/data-folders.js'
import { FRAMEWORKS, START_TIMEOUT_MS, startServer } from './support/server-process.js'

const folders = dataFolders('signals')

it.each(FRAMEWORKS)(
  'stops cleanly on SIGINT (Ctrl-C) on %s',
  async (framework) => {
    const env = folders.env(framework)
    const server = await startServer(framework, env)
    expect(await server.stop('SIGINT')).toBe(0)
    expect(server.output()).not.toMatch(/\n\s+at /)
    expect(existsSync(`${env.KEYWARD_DATA_DIR}.lock`)).toBe(false)
  },
  START_TIMEOUT_MS + 30_000,
)

/** The connection's bytes as they arrive, and when the server ended it. */
function reading(socket: Socket) {
  let received = ''
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => {
    received += chunk
  })
  const ended = once(socket, 'close').then(() => performance.now())
  return { received: () => received, ended }
}

it.each(FRAMEWORKS)(
  'answers a request in flight at SIGTERM, then ends its keep-alive connection at once and exits on %s',
  async (framework) => {
    const server = await startServer(framework, folders.env(`in-flight-${framework}`))
    const { hostname, port } = new URL(server.url)
    const socket = connect(Number(port), hostname)
    await once(socket, 'connect')
    const connection = reading(socket)
    const body = JSON.stringify({ username: 'demo', password: 'not the password' })
    // Headers and half the body: the request is in flight, the connection kept alive (HTTP/1.1).
    const head = `POST /login HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`
    await new Promise((done) => socket.write(head + body.slice(0, 10), done))
    // The server is another process: give it a moment to read what the kernel already holds.
    await new Promise((resolve) => setTimeout(resolve, 200))
    const exited = server.stop()
    // And to begin its shutdown while the request still waits for the rest of its body.
    await new Promise((resolve) => setTimeout(resolve, 200))
    socket.write(body.slice(10))
    await vi.waitFor(() => expect(connection.received()).toMatch(/\r\n\r\n.*\}$/s), { timeout: 10_000 })
    const answered = performance.now()
    expect(connection.received()).toMatch(/^HTTP\/1\.1 401 /)
    // Without being ended, the connection would stay open until the client's idle timeout: 5 s on
    // Express and Koa (Node's), 72 s on Fastify, with the process (and its last-use writes) waiting.
    expect((await connection.ended) - answered).toBeLessThan(3_000)
    expect(await exited).toBe(0)
    expect(server.output()).not.toMatch(/\n\s+at /)
  },
  START_TIMEOUT_MS + 30_000,
)
