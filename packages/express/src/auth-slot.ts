import { IncomingMessage } from 'node:http'
import type { Principal } from '@keyward/core'
import type { Request } from 'express'

/**
 * Where `req.auth` lives. Express swaps each request's prototype (Object.setPrototypeOf), so every
 * request object has a hidden class of its own, and adding a property to one builds yet another:
 * about 22,000 instructions, 4% of a plain Express request (callgrind). Its response is alike. So
 * the principal goes into a symbol slot of the request's `rawHeaders`: the array Node's parser
 * makes for each request, which no host replaces, and all of whose instances share one hidden
 * class, the slot's transition included (V8 caches it). Not `res.locals`, where it was until a
 * host's `res.locals = { title }` (a common pattern) took `req.auth` with it. It is read through an
 * `auth` accessor defined once on Express's request prototypes (the app's `app.request` and those
 * above it, up to Node's IncomingMessage, never Node's own), which also covers sub-apps. Not a
 * WeakMap keyed by the request: each entry is an ephemeron, and its write barrier and the
 * scavenger's ephemeron work cost about 1.4 µs per request (perf). Assigning `req.auth` elsewhere
 * still works: the setter stores it. A request without `rawHeaders` (one that did not come
 * through Node's HTTP server) keeps its principal in a WeakMap.
 */
const SLOT = Symbol('keyward.auth')
type Slots = { [SLOT]?: Principal }
const principals = new WeakMap<object, Principal>()
/** Per prototype: whether `auth` on it is our accessor (false: someone else's property is there). */
const prototypes = new WeakMap<object, boolean>()

const slotsOf = (req: object): Slots | undefined => {
  const rawHeaders = (req as { rawHeaders?: unknown }).rawHeaders
  return Array.isArray(rawHeaders) ? (rawHeaders as Slots) : undefined
}

const accessor = {
  configurable: true,
  enumerable: false,
  get(this: object): Principal | undefined {
    const slots = slotsOf(this)
    return slots === undefined ? principals.get(this) : slots[SLOT]
  },
  set(this: object, principal: Principal) {
    const slots = slotsOf(this)
    if (slots === undefined) principals.set(this, principal)
    else slots[SLOT] = principal
  },
}

export function setAuth(req: Request, principal: Principal): void {
  if (!Object.hasOwn(req, 'auth') && accessorServes(Object.getPrototypeOf(req)))
    accessor.set.call(req, principal)
  else req.auth = principal
}

function accessorServes(prototype: object | null): boolean {
  if (prototype === null) return false
  let ours = prototypes.get(prototype)
  if (ours === undefined) {
    const levels: object[] = []
    for (let level: object | null = prototype; level !== null && level !== IncomingMessage.prototype; ) {
      levels.push(level)
      level = Object.getPrototypeOf(level)
    }
    const descriptors = levels.map((level) => Object.getOwnPropertyDescriptor(level, 'auth'))
    // Another library's `auth` on the chain is left alone, and `req.auth` is assigned plainly.
    ours = descriptors.every((existing) => existing === undefined || existing.get === accessor.get)
    if (ours) {
      for (const [i, level] of levels.entries())
        if (descriptors[i] === undefined) Object.defineProperty(level, 'auth', accessor)
    }
    prototypes.set(prototype, ours)
  }
  return ours
}
