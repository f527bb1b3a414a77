import { once } from 'node:events'
import { type AddressInfo, connect, createServer, type Socket } from 'node:net'
import { memoryStore } from '@keyward/core'
import { describe, expect, it } from 'vitest'
import { settledWithin, withDeadline } from '../src/store/deadline.js'

describe('withDeadline', () => {
  it.each([1000, false] as const)(
    'answers a store method that throws instead of rejecting with a rejection, as callers await (ms: %s)',
    async (ms) => {
      const failure = new Error('driver bug')
      const throwing = {
        ...memoryStore(),
        recordKeyUsage: () => {
          throw failure
        },
      }
      let answer: Promise<void> | undefined
      expect(() => {
        answer = withDeadline(throwing, ms).recordKeyUsage([])
      }).not.toThrow()
      await expect(answer).rejects.toBe(failure)
    },
  )
})

describe('settledWithin', () => {
  it('lets an answer that arrived while the process stalled win over the deadline that passed meanwhile', async () => {
    const server = createServer()
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const client = connect((server.address() as AddressInfo).port, '127.0.0.1')
    const [peer] = (await once(server, 'connection')) as [Socket]
    try {
      const answered = new Promise<string>((resolve) => client.once('data', (data) => resolve(String(data))))
      const call = settledWithin(answered, 20, 'late')
      peer.write('answer')
      // The loop is blocked past the deadline (a GC pause, a frozen VM) while the answer arrives.
      const until = Date.now() + 100
      while (Date.now() < until) {}
      await expect(call).resolves.toBe('answer')
    } finally {
      client.destroy()
      peer.destroy()
      server.close()
    }
  })

  it('still rejects a call that has not answered once the deadline passed', async () => {
    await expect(settledWithin(new Promise(() => {}), 20, 'late')).rejects.toThrow('late')
  })
})
