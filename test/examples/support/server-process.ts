import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export type Framework = 'express' | 'fastify' | 'koa'
export const FRAMEWORKS: readonly Framework[] = ['express', 'fastify', 'koa']

export interface RunningServer {
  readonly url: string
  readonly process: ChildProcess
  /** Everything it printed so far. */
  output(): string
  /** A signal (SIGTERM unless told), then the exit code once it has shut down. */
  stop(signal?: 'SIGTERM' | 'SIGINT'): Promise<number | null>
  /** SIGKILL: an instance dying mid-load. */
  kill(): Promise<void>
}

/** An example that exited before it was ready: its exit code and everything it printed. */
export class ExitedBeforeReady extends Error {
  constructor(
    framework: Framework,
    readonly code: number | null,
    readonly output: string,
  ) {
    super(`${framework} example exited with ${code} before it was ready:\n${output}`)
  }
}

const READY = /keyward example \((\w+)\) listening on (http:\/\/\S+)/
/** How long an example may take to print its ready line (PGlite's start is slow on a loaded machine). */
export const START_TIMEOUT_MS = 30_000

/**
 * Starts one example server as a separate process (port 0, so runs never collide) and waits
 * for its ready line; never a fixed sleep. Rejects with ExitedBeforeReady if it exits first,
 * and with a timeout error if it neither gets ready nor exits in START_TIMEOUT_MS (then it is
 * killed first).
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
  // 'close', not 'exit': by then its stdout and stderr are read to the end, so output() is all of it.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)))
  return new Promise((resolve, reject) => {
    let hung = false
    // A hung example is killed, and the promise rejected only once it has exited: no run leaves one behind.
    const timer = setTimeout(() => {
      hung = true
      child.kill('SIGKILL')
    }, START_TIMEOUT_MS)
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const match = READY.exec(output)
      if (match && !hung) {
        clearTimeout(timer)
        resolve({
          url: match[2] as string,
          process: child,
          output: () => output,
          stop: async (signal = 'SIGTERM') => {
            child.kill(signal)
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
      reject(
        hung
          ? new Error(`${framework} example did not start in ${START_TIMEOUT_MS / 1000} s:\n${output}`)
          : new ExitedBeforeReady(framework, code, output),
      )
    })
  })
}

/**
 * Starts an example that must refuse to start, and resolves with how it exited. Fails if it got
 * ready (then stops it), or if it hung for START_TIMEOUT_MS instead of exiting.
 */
export async function startRefused(
  framework: Framework,
  env: Record<string, string | undefined>,
): Promise<ExitedBeforeReady> {
  let server: RunningServer
  try {
    server = await startServer(framework, env)
  } catch (error) {
    if (error instanceof ExitedBeforeReady) return error
    throw error
  }
  await server.stop()
  throw new Error(`${framework} example started, where it should have refused to:\n${server.output()}`)
}
