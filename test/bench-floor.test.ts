/**
 * The benchmark's floor (bench/lib/floor-guard.mjs) is a guard in its own right on every framework:
 * what it measures is only worth reading if it admits the bench key and refuses everything else,
 * as keyward's guard beside it does. Real servers (bench/server.mjs), real requests.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

const SERVER = fileURLToPath(new URL('../bench/server.mjs', import.meta.url))
const children: ChildProcess[] = []
afterAll(() => {
  for (const child of children) child.kill()
})

interface BenchServer {
  ports: Record<string, number>
  key: string
}

function startServer(framework: string): Promise<BenchServer> {
  const child = spawn(process.execPath, [SERVER, framework], { stdio: ['ignore', 'pipe', 'inherit'] })
  children.push(child)
  return new Promise((resolve, reject) => {
    let output = ''
    child.stdout?.on('data', (chunk) => {
      output += chunk
      const newline = output.indexOf('\n')
      if (newline >= 0) resolve(JSON.parse(output.slice(0, newline)))
    })
    child.once('exit', (code) => reject(new Error(`${framework} bench server exited with ${code}`)))
  })
}

describe.each(['fastify', 'express', 'koa'])('the floor on %s', (framework) => {
  it('admits the bench key, on a fresh and on a remembered connection, and refuses any other', async () => {
    const { ports, key } = await startServer(framework)
    const status = async (headers: Record<string, string>) => {
      const response = await fetch(`http://127.0.0.1:${ports.floor}/v1/agents`, { headers })
      await response.arrayBuffer()
      return response.status
    }
    expect(await status({ 'x-api-key': key })).toBe(200)
    expect(await status({ 'x-api-key': key })).toBe(200)
    expect(await status({})).toBe(401)
    // Of the key's length, one character off: the remembered key's compare must refuse it.
    const other = `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`
    expect(await status({ 'x-api-key': other })).toBe(401)
    expect(await status({ 'x-api-key': `${key}, ${key}` })).toBe(401)
    expect(await status({ authorization: `Bearer ${key}` })).toBe(401)
    expect(await status({ 'x-api-key': key })).toBe(200)
  })
})
