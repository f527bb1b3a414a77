/** PORT takes decimal digits only: what Number() would also read (' ' as 0, 0x50, 1e3) is refused. */
import { expect, it } from 'vitest'
import { loadConfig } from '../../examples/shared/src/config.js'

const env = (PORT: string) => ({ PORT, KEYWARD_JWT_SECRET: 'port-secret-port-secret-port-secret-0' })

it.each([
  ['3000', 3000],
  ['0', 0],
  ['65535', 65_535],
  ['', 3000],
])('reads PORT=%j as %d', (port, expected) => {
  expect(loadConfig(env(port)).port).toBe(expected)
})

it.each([' ', '0x50', '1e3', '80.0', '-1', '+80', '65536', '123456', ' 80'])('refuses PORT=%j', (port) => {
  expect(() => loadConfig(env(port))).toThrow(
    `PORT must be a port number from 0 to 65535 (got ${JSON.stringify(port)})`,
  )
})
