import type { AuthenticateOptions, GuardOutcome, GuardRequest, Keyward } from '@keyward/core'
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify'
import { send } from './reply.js'

/** What the core reads of a request: the raw header lines, its connection, and the address only if it must. */
class GuardView implements GuardRequest {
  constructor(private readonly request: FastifyRequest) {}
  get rawHeaders(): readonly string[] {
    return this.request.raw.rawHeaders
  }
  get ip(): string {
    return this.request.ip
  }
  get socket(): object {
    return this.request.raw.socket
  }
}

function admit(outcome: GuardOutcome, request: FastifyRequest, reply: FastifyReply, done: () => void): void {
  if (!outcome.ok) {
    send(reply, outcome.response)
    return
  }
  request.auth = outcome.auth
  done()
}

/**
 * The guard as an onRequest hook: the cheapest place, before any body is read. It is a callback
 * hook, not an async one, because the core answers a warm key without a promise: first from
 * memory alone (admitFromMemory), else through the full guard.
 */
export function guardHook(engine: Keyward, guardOptions?: AuthenticateOptions): onRequestHookHandler {
  return function keywardGuard(request, reply, done) {
    const known = engine.admitFromMemory(request.raw, guardOptions)
    if (known !== undefined) {
      request.auth = known
      done()
      return
    }
    const outcome = engine.guard(new GuardView(request), guardOptions)
    if (outcome instanceof Promise) outcome.then((settled) => admit(settled, request, reply, done), done)
    else admit(outcome, request, reply, done)
  }
}
