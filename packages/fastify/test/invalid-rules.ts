/**
 * Values of a route's `config.keyward` that are no rule: refused when the route is declared after
 * keyward (fastify.test.ts), failing closed when declared before it (order.test.ts).
 */
export const INVALID_ROUTE_RULES: readonly unknown[] = [
  false,
  null,
  'agents:read',
  { permissions: 'agents:read' },
  { permissions: ['agents:read', 7] },
  {},
]
