import { Agent, request } from 'node:http'
import type { Socket } from 'node:net'

/** GET requests over a single kept-alive connection; fails the test if a second one is opened. */
export function oneConnection(baseUrl: string) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  const sockets = new Set<Socket>()
  const send = (path: string, headers: Record<string, string>) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(new URL(path, baseUrl), { agent, headers }, (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          body += chunk
        })
        res.once('end', () => resolve({ status: res.statusCode ?? 0, body }))
      })
      req.once('socket', (socket) => sockets.add(socket))
      req.once('error', reject)
      req.end()
    })
  const get = async (path: string, headers: Record<string, string>) => (await send(path, headers)).status
  return { get, send, sockets, close: () => agent.destroy() }
}
