/**
 * What each framework's host application provides to the contract suite. The applications
 * themselves live beside their adapters (packages/<framework>/test/host.ts), where the
 * framework's types resolve; they are the same app on each framework.
 */
export interface RunningServer {
  readonly url: string
  /** Errors the host's own error handler received: keyward's failures must never get there. */
  readonly hostErrors: unknown[]
  close(): Promise<void>
}

/** Routes of the host's that the guard protects, and the permission the first requires. */
export const GUARDED = { agents: '/v1/agents', me: '/v1/me' } as const
export const AGENTS_PERMISSION = 'agents:read'
