import { createKeyward, failureResponse, type Keyward, KeywardError, type Principal } from '@keyward/core'
import { type ExampleConfig, loadConfig } from './config.js'
import { type OpenedStore, openStore } from './store.js'
import { checkPassword, demoUsers } from './users.js'

export interface ExampleResponse {
  readonly status: number
  readonly headers?: Readonly<Record<string, string>>
  readonly body: unknown
}

export interface Example {
  readonly config: ExampleConfig
  readonly keyward: Keyward
  /** The host's own login: JSON { username, password } to { data: { auth_token, refresh_token } }. */
  login(body: unknown): Promise<ExampleResponse>
  /** The guarded endpoint's payload. */
  agents(auth: Principal): { data: Array<{ id: string; name: string }>; user: string }
  /** Prints the ready line (with the port really bound) and closes everything on SIGINT/SIGTERM. */
  listening(framework: string, port: number, close: () => Promise<void>): void
}

const AGENTS = [
  { id: 'agt_1', name: 'Invoice reader' },
  { id: 'agt_2', name: 'Support triage' },
]

const reason = (error: unknown): string => (error instanceof Error ? error.message : String(error))

export async function startExample(): Promise<Example> {
  const config = loadConfig()
  const opened: OpenedStore = await openStore(config)
  const keyward = createKeyward({
    jwtSecret: config.jwtSecret,
    users: demoUsers,
    store: opened.store,
    keyLifetime: config.keyLifetime,
    totp: { issuer: 'keyward example', encryptionKey: config.totpKey },
    // keyward logs nothing itself: why a request got a 503 or a 500 comes as an error event.
    onEvent: (event) => {
      if (event.type === 'error')
        console.error(`keyward: ${event.code} during ${event.during}: ${reason(event.error)}`)
    },
  })

  return {
    config,
    keyward,

    async login(body) {
      const { username, password } = (typeof body === 'object' && body !== null ? body : {}) as Record<
        string,
        unknown
      >
      if (typeof username !== 'string' || typeof password !== 'string') {
        return {
          status: 400,
          body: { error: 'Invalid request', message: 'Send JSON { "username": "...", "password": "..." }' },
        }
      }
      // A production login also limits failed attempts per address and per account; this demo's
      // does not (keyward's limiter covers keyward's own routes only).
      const userId = checkPassword(username, password)
      if (userId === undefined)
        return { status: 401, body: { error: 'Invalid credentials', message: 'Wrong username or password' } }
      try {
        return { status: 200, body: { data: await keyward.issueTokens(userId) } }
      } catch (error) {
        // A store outage is keyward's 503 with Retry-After, as on its own routes: never a 500.
        if (error instanceof KeywardError) return failureResponse(error.code, { message: error.message })
        throw error
      }
    },

    agents: (auth) => ({ data: AGENTS, user: auth.userId }),

    listening(framework, port, close) {
      let closing = false
      const shutdown = async () => {
        if (closing) return
        closing = true
        await close()
        await keyward.close()
        await opened.close()
        process.exit(0)
      }
      process.once('SIGINT', shutdown)
      process.once('SIGTERM', shutdown)
      // Last: whoever waits for this line may signal at once, and must find the handlers in place.
      const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`
      console.log(`keyward example (${framework}) listening on ${url} (keys in ${opened.description})`)
    },
  }
}
