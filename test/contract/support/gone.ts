import { once } from 'node:events'
import { connect } from 'node:net'
import { encodeRequest } from '../../security/support/raw-http.js'

/**
 * A POST to `target` whose client resets its connection mid-body, once the server has handed the
 * request on (Node's server asks for the body with 100 Continue when it has). Resolves once the
 * server has answered a request sent after the reset, by which time it has read the reset.
 */
export async function resetMidBody(url: string, target: string): Promise<void> {
  const { host, hostname, port } = new URL(url)
  const socket = connect(Number(port), hostname)
  socket.on('error', () => {})
  const headers = [
    ['content-type', 'application/json'],
    ['content-length', '100'],
    ['expect', '100-continue'],
  ] as const
  socket.write(encodeRequest({ method: 'POST', target, headers }, host))
  const [continued] = await once(socket, 'data')
  if (!String(continued).startsWith('HTTP/1.1 100 Continue')) throw new Error(`no 100 Continue: ${continued}`)
  await new Promise<void>((written) => socket.write('{"api_key":', () => written()))
  socket.resetAndDestroy()
  await (await fetch(url)).arrayBuffer()
}
