import { createHook } from 'node:async_hooks'
import { Agent, get } from 'node:http'

/**
 * Promises this process creates per request while `url` is fetched `count` times over one
 * keep-alive connection (after as many to warm up): the client's own included, which
 * node:http keeps the same whatever the server does, so two servers' figures compare.
 */
export async function promisesPerRequest(url: string, count = 200): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  const fetchOnce = () =>
    new Promise<void>((resolve, reject) => {
      get(url, { agent }, (response) => {
        response.resume()
        response.on('end', resolve)
      }).on('error', reject)
    })
  try {
    for (let i = 0; i < count; i++) await fetchOnce()
    let promises = 0
    const hook = createHook({
      init(_id, type) {
        if (type === 'PROMISE') promises++
      },
    })
    hook.enable()
    try {
      for (let i = 0; i < count; i++) await fetchOnce()
    } finally {
      hook.disable()
    }
    return promises / count
  } finally {
    agent.destroy()
  }
}
