import { createHash, randomUUID } from 'node:crypto'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import { describeWith } from '../../../test/support/services.js'
import { Script } from '../src/script.js'
import { CLIENTS } from './support.js'

describeWith('REDIS_URL', 'redis store scripts', (url) => {
  describe.each(CLIENTS)('through %s', (_release, connect) => {
    const client = connect(url)
    afterAll(async () => {
      await client.quit()
    })
    afterEach(() => {
      vi.restoreAllMocks()
    })

    it('loads a script Redis does not know (after a restart or a SCRIPT FLUSH), then runs it by SHA', async () => {
      // A source of its own for this run, so the server cannot know it yet; no SCRIPT FLUSH, which
      // would drop every other app's scripts on a shared server.
      const source = `-- ${randomUUID()}\nreturn ARGV[1]`
      const sha = createHash('sha1').update(source).digest('hex')
      expect(await client.script('EXISTS', sha)).toEqual([0])
      const script = new Script(source)
      const sentWhole = vi.spyOn(client, 'eval')
      expect(await script.run(client, [], ['first'])).toBe('first')
      expect(await client.script('EXISTS', sha)).toEqual([1])
      expect(await script.run(client, [], ['again'])).toBe('again')
      expect(sentWhole).toHaveBeenCalledTimes(1) // the second run went by SHA alone
    })

    it("passes on a script's own error rather than loading it again", async () => {
      const script = new Script(
        `-- ${randomUUID()}\nreturn redis.error_reply('ERR keyward: from the script')`,
      )
      const sentWhole = vi.spyOn(client, 'eval')
      await expect(script.run(client, [], [])).rejects.toThrow('ERR keyward: from the script')
      await expect(script.run(client, [], [])).rejects.toThrow('ERR keyward: from the script')
      expect(sentWhole).toHaveBeenCalledTimes(1) // once, unknown; then known, its error passed on
    })
  })
})
