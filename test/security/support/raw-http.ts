/**
 * HTTP/1.1 over a bare socket, for requests fetch and node:http refuse to send: repeated
 * credential headers, raw UTF-8 bytes in header values, heads near Node's 16 KiB limit. Each
 * request asks for `Connection: close`, so the whole response is what arrives before the end.
 */
import { connect } from 'node:net'

export type RawHeader = readonly [name: string, value: string | Uint8Array]

export interface RawRequest {
  readonly method: string
  /** Path and query, sent as given. */
  readonly target: string
  readonly headers: readonly RawHeader[]
  readonly body?: Uint8Array | undefined
  /** Frames the body with Transfer-Encoding: chunked instead of Content-Length. */
  readonly chunked?: boolean
}

export interface RawResponse {
  readonly status: number
  /** Lower-case names; repeated fields joined with ", ". */
  readonly headers: Headers
  readonly body: string
  /** Every byte received, head and body. */
  readonly raw: Buffer
}

const CRLF = '\r\n'

/** The request's bytes; Host and Connection: close are added unless given. */
export function encodeRequest(request: RawRequest, host: string): Buffer {
  const lines: Buffer[] = [Buffer.from(`${request.method} ${request.target} HTTP/1.1${CRLF}`, 'latin1')]
  const names = new Set(request.headers.map(([name]) => name.toLowerCase()))
  const headers: RawHeader[] = [...request.headers]
  if (!names.has('host')) headers.unshift(['host', host])
  headers.push(['connection', 'close'])
  const body = request.body
  if (body !== undefined) {
    headers.push(request.chunked ? ['transfer-encoding', 'chunked'] : ['content-length', String(body.length)])
  }
  for (const [name, value] of headers) {
    lines.push(Buffer.from(`${name}: `, 'latin1'), Buffer.from(value), Buffer.from(CRLF, 'latin1'))
  }
  lines.push(Buffer.from(CRLF, 'latin1'))
  if (body !== undefined) {
    if (!request.chunked) lines.push(Buffer.from(body))
    else {
      if (body.length > 0) lines.push(Buffer.from(`${body.length.toString(16)}${CRLF}`), Buffer.from(body))
      if (body.length > 0) lines.push(Buffer.from(CRLF))
      lines.push(Buffer.from(`0${CRLF}${CRLF}`))
    }
  }
  return Buffer.concat(lines)
}

function decodeChunked(data: Buffer): Buffer {
  const parts: Buffer[] = []
  let at = 0
  for (;;) {
    const lineEnd = data.indexOf(CRLF, at)
    if (lineEnd === -1) throw new Error('truncated chunked body')
    const size = Number.parseInt(data.subarray(at, lineEnd).toString('latin1'), 16)
    if (!Number.isFinite(size)) throw new Error('bad chunk size')
    if (size === 0) return Buffer.concat(parts)
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size))
    at = lineEnd + 2 + size + 2
  }
}

export function parseResponse(raw: Buffer, method: string): RawResponse {
  const headEnd = raw.indexOf(`${CRLF}${CRLF}`)
  if (headEnd === -1) throw new Error(`no complete response head: ${JSON.stringify(raw.toString('latin1'))}`)
  const [statusLine = '', ...fieldLines] = raw.subarray(0, headEnd).toString('latin1').split(CRLF)
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1])
  if (!Number.isInteger(status)) throw new Error(`bad status line: ${statusLine}`)
  const headers = new Headers()
  for (const line of fieldLines) {
    const colon = line.indexOf(':')
    headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim())
  }
  let payload = raw.subarray(headEnd + 4)
  if (method === 'HEAD' || status === 204 || status === 304) payload = Buffer.alloc(0)
  else if (/chunked/i.test(headers.get('transfer-encoding') ?? '')) payload = decodeChunked(payload)
  else if (headers.has('content-length')) payload = payload.subarray(0, Number(headers.get('content-length')))
  return { status, headers, body: payload.toString('utf8'), raw }
}

/** Sends one request and reads the response until the server closes the connection. */
export function rawRequest(baseUrl: string, request: RawRequest, timeoutMs = 5_000): Promise<RawResponse> {
  const { hostname, port, host } = new URL(baseUrl)
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    const socket = connect({ host: hostname, port: Number(port) })
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no response within ${timeoutMs} ms to ${request.method} ${request.target}`))
    }, timeoutMs)
    const finish = () => {
      clearTimeout(timer)
      try {
        resolve(parseResponse(Buffer.concat(chunks), request.method))
      } catch (error) {
        reject(error)
      }
    }
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    // A server that answers early (413) may reset the connection while the body is still
    // going out: what arrived before is the response.
    socket.on('error', (error) => {
      if (chunks.length > 0) return
      clearTimeout(timer)
      reject(error)
    })
    socket.on('close', () => {
      if (chunks.length > 0) return finish()
      clearTimeout(timer)
      reject(new Error(`connection closed without a response to ${request.method} ${request.target}`))
    })
    // Not end(): Node's server ends a half-closed connection before a slow handler answers.
    socket.write(encodeRequest(request, host))
  })
}
