import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createKeyward, type Keyward, type Principal } from '@keyward/core'
import { type ExampleConfig, loadConfig } from './config.js'
import { hostLogin, hostLogout } from './login.js'
import type { ExampleResponse } from './response.js'
import { type OpenedStore, openStore } from './store.js'
import { demoUsers } from './users.js'

export interface Example {
  readonly config: ExampleConfig
  readonly keyward: Keyward
  /**
   * The host's own login: JSON { username, password[, totp_code] } to { data: { auth_token, refresh_token } }.
   * `ip`, the client's address, goes into the auth.failed event of a wrong code.
   */
  login(body: unknown, ip?: string): Promise<ExampleResponse>
  /** Signs the caller's user out everywhere: every refresh token of theirs stops (keyward's endSessions). */
  logout(auth: Principal): Promise<ExampleResponse>
  /**
   * For a load balancer's readiness probe, unauthenticated: 200 while the store answers, else 503,
   * with keyward's health (`{ ok, store, events }`, nothing more) as the body.
   */
  ready(): Promise<ExampleResponse>
  /** The guarded endpoint's payload. */
  agents(auth: Principal): { data: Array<{ id: string; name: string }>; user: string }
  /** Removes an agent from this process's list (a write: the route needs `agents:write`). */
  deleteAgent(id: string, auth: Principal): ExampleResponse
  /**
   * Prints the ready line (with the port really bound) and closes everything on SIGINT/SIGTERM:
   * `close` (the framework's, `server.close` by default) and then keyward and the store.
   */
  listening(framework: string, server: Server, close?: () => Promise<void>): void
  /** Says why the server could not listen (a port in use), closes the store and exits non-zero. */
  cannotListen(error: unknown): Promise<never>
}

/** How long requests in flight at shutdown get to be answered before their connections are cut. */
const SHUTDOWN_GRACE_MS = 10_000

const closeServer = (server: Server) => new Promise<void>((done) => server.close(() => done()))

/**
 * Runs `close`, which stops taking connections and ends the idle ones, but then waits for each
 * keep-alive connection that had a request in flight until the client's idle timeout ends it (5 s
 * on Node, 72 s on Fastify), and keyward's last-use times wait with it: each is ended as soon as
 * its request is answered instead, and any still busy after the grace period is cut.
 */
async function drained(server: Server, close: () => Promise<void>): Promise<void> {
  const endIdle = setInterval(() => server.closeIdleConnections(), 100)
  const cut = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS)
  try {
    await close()
  } finally {
    clearInterval(endIdle)
    clearTimeout(cut)
  }
}

const AGENTS = [
  { id: 'agt_1', name: 'Invoice reader' },
  { id: 'agt_2', name: 'Support triage' },
]

const reason = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/**
 * Opens the example, or says in one line why it cannot (a setting refused, the data folder in use,
 * the store unreachable) and exits non-zero: a misconfiguration is not a crash to read a stack of.
 */
export async function startExample(): Promise<Example> {
  let config: ExampleConfig
  let opened: OpenedStore
  try {
    config = loadConfig()
    opened = await openStore(config)
  } catch (error) {
    console.error(`keyward example cannot start: ${reason(error)}`)
    process.exit(1)
  }
  const keyward = createKeyward({
    jwtSecret: config.jwtSecret,
    previousJwtSecrets: config.previousJwtSecrets,
    users: demoUsers,
    store: opened.store,
    keyLifetime: config.keyLifetime,
    totp: {
      issuer: 'keyward example',
      encryptionKey: config.totpKey,
      previousEncryptionKeys: config.previousTotpKeys,
    },
    // keyward logs nothing itself: why a request got a 503 or a 500 comes as an error event.
    onEvent: (event) => {
      if (event.type === 'error')
        console.error(`keyward: ${event.code} during ${event.during}: ${reason(event.error)}`)
    },
  })
  const url = (port: number) =>
    `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`
  // Per process, as the demo users are: a restart brings deleted agents back.
  const agents = AGENTS.map((agent) => ({ ...agent }))
  const closeKeyward = async () => {
    await keyward.close()
    await opened.close()
  }

  return {
    config,
    keyward,
    login: hostLogin(keyward),
    logout: hostLogout(keyward),
    async ready() {
      const health = await keyward.health()
      return { status: health.ok ? 200 : 503, headers: { 'cache-control': 'no-store' }, body: health }
    },
    agents: (auth) => ({ data: agents, user: auth.userId }),

    deleteAgent(id, auth) {
      const index = agents.findIndex((agent) => agent.id === id)
      if (index === -1)
        return { status: 404, headers: {}, body: { error: 'Not found', message: `No agent ${id}` } }
      const [deleted] = agents.splice(index, 1)
      return { status: 200, headers: {}, body: { data: deleted, user: auth.userId } }
    },

    listening(framework, server, close = () => closeServer(server)) {
      let closing = false
      const shutdown = async () => {
        if (closing) return
        closing = true
        await drained(server, close)
        await closeKeyward()
        process.exit(0)
      }
      process.once('SIGINT', shutdown)
      process.once('SIGTERM', shutdown)
      // Last: whoever waits for this line may signal at once, and must find the handlers in place.
      const { port } = server.address() as AddressInfo
      console.log(`keyward example (${framework}) listening on ${url(port)} (keys in ${opened.description})`)
    },

    async cannotListen(error) {
      const code = (error as NodeJS.ErrnoException | undefined)?.code
      const why =
        code === 'EADDRINUSE'
          ? 'the port is in use (EADDRINUSE): stop what listens there, or set PORT to another port'
          : reason(error)
      console.error(`keyward example cannot listen on ${url(config.port)}: ${why}`)
      await closeKeyward()
      process.exit(1)
    },
  }
}
