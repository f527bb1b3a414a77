import { type AuthenticateOptions, KeywardConfigError } from '@keyward/core'
import type { onRequestHookHandler, RouteOptions } from 'fastify'

/** A route's `config.keyward`: `true` for any authenticated caller, or the permissions required. */
export type KeywardRouteGuard = true | { readonly permissions: readonly string[] }

type Guard = (options?: AuthenticateOptions) => onRequestHookHandler

const isRouteGuard = (rule: unknown): rule is KeywardRouteGuard =>
  rule === true ||
  (typeof rule === 'object' &&
    rule !== null &&
    Array.isArray((rule as { permissions?: unknown }).permissions) &&
    (rule as { permissions: unknown[] }).permissions.every((permission) => typeof permission === 'string'))

const invalidRule = (where: string) =>
  new KeywardConfigError('config.keyward', `of ${where} must be true or { permissions: [...] }`)

/** The route's rule, checked as the route is declared; undefined for a route keyward does not guard. */
function ruleOf(route: RouteOptions): KeywardRouteGuard | undefined {
  const rule: unknown = route.config?.keyward
  if (rule === undefined) return undefined
  if (!isRouteGuard(rule)) throw invalidRule(`${route.method} ${route.url}`)
  return rule
}

/** Refuses a route whose rule is not valid, as it is declared. */
export function checkOnRoute(route: RouteOptions): void {
  ruleOf(route)
}

/** Puts the guard first among a route's own onRequest hooks, as the route is declared. */
export function guardOnRoute(guard: Guard) {
  return (route: RouteOptions): void => {
    const rule = ruleOf(route)
    if (rule === undefined) return
    const own = route.onRequest === undefined ? [] : [route.onRequest].flat()
    route.onRequest = [guard(rule === true ? undefined : rule), ...own]
  }
}

/**
 * The guard for routes declared before the plugin loaded, which onRoute never saw: one hook on the
 * whole app that reads each request's route config. A rule is checked, and its guard made, once;
 * a rule that is not valid fails closed (the host's error handler answers), never open.
 */
export function guardByRouteConfig(guard: Guard): onRequestHookHandler {
  const anyCaller = guard()
  const byRule = new WeakMap<object, onRequestHookHandler>()
  const hookFor = (rule: unknown): onRequestHookHandler | undefined => {
    if (rule === true) return anyCaller
    if (typeof rule !== 'object' || rule === null) return undefined
    let hook = byRule.get(rule)
    if (hook === undefined && isRouteGuard(rule)) {
      hook = guard(rule)
      byRule.set(rule, hook)
    }
    return hook
  }
  return function keywardRouteConfigGuard(request, reply, done) {
    const route = request.routeOptions
    const rule: unknown = route.config?.keyward
    if (rule === undefined) {
      done()
      return
    }
    const hook = hookFor(rule)
    if (hook === undefined) done(invalidRule(`${route.method} ${route.url}`))
    else hook.call(this, request, reply, done)
  }
}
