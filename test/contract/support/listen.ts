import { once } from 'node:events'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { RunningServer } from './host.js'

/** Waits for a server started with listen(0, '127.0.0.1'); close() drops kept-alive sockets too. */
export async function listenOnLoopback(server: Server, hostErrors: unknown[]): Promise<RunningServer> {
  if (!server.listening) await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    hostErrors,
    close: () =>
      new Promise((done) => {
        server.closeAllConnections()
        server.close(() => done())
      }),
  }
}
