import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export type Framework = 'express' | 'fastify' | 'koa'

export interface RunningServer {
  readonly url: string
  readonly process: ChildProcess
  /** Everything it printed so far. */
  output(): string
  /** SIGTERM, then the exit code once it has shut down. */
  stop(): Promise<number | null>
  /** SIGKILL: an instance dying mid-load. */
  kill(): Promise<void>
}

const READY = /keyward example \((\w+)\) listening on (http:\/\/\S+)/
/** How long an example may take to print its ready line (PGlite's start is slow on a loaded machine). */
export const START_TIMEOUT_MS = 30_000

/**
 * Starts one example server as a separate process (port 0, so runs never collide) and waits
 * for its ready line; never a fixed sleep.
 */
export function startServer(
  framework: Framework,
  env: Record<string, string | undefined> = {},
): Promise<RunningServer> {
  const cwd = fileURLToPath(new URL(`../../../examples/${framework}`, import.meta.url))
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(new Error(`${framework} example did not start in ${START_TIMEOUT_MS / 1000} s:\n${output}`)),
      START_TIMEOUT_MS,
    )
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const match = READY.exec(output)
      if (match) {
        clearTimeout(timer)
        resolve({
          url: match[2] as string,
          process: child,
          output: () => output,
          stop: async () => {
            child.kill('SIGTERM')
            return exited
          },
          kill: async () => {
            child.kill('SIGKILL')
            await exited
          },
        })
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`${framework} example exited with ${code} before it was ready:\n${output}`))
    })
  })
}
