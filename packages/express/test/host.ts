import type { Keyward } from '@keyward/core'
import { keywardExpress } from '@keyward/express'
import defaultExpress, { type NextFunction, type Request, type Response } from 'express'
import { AGENTS_PERMISSION, GUARDED, type RunningServer } from '../../../test/contract/support/host.js'
import { listenOnLoopback } from '../../../test/contract/support/listen.js'

/**
 * The contract suite's host application on Express (the workspace's release unless given another),
 * with the app's `query parser` setting if given (its default otherwise: `simple` on Express 5,
 * `extended` on 4).
 */
export function startExpressHost(
  keyward: Keyward,
  express = defaultExpress,
  queryParser?: false | 'simple' | 'extended',
): Promise<RunningServer> {
  const hostErrors: unknown[] = []
  const auth = keywardExpress(keyward)
  const app = express()
  if (queryParser !== undefined) app.set('query parser', queryParser)
  app.use(auth.routes)
  // Both forms of the guard: protect (guard and handler in one) and requireAuth (a handler of its own).
  app.get(
    GUARDED.agents,
    auth.protect({ permissions: [AGENTS_PERMISSION] }, (req, res) => {
      res.json({ user: req.auth.userId })
    }),
  )
  app.get(GUARDED.me, auth.requireAuth(), (req, res) => {
    res.json({ user: req.auth.userId, credential: req.auth.credential })
  })
  app.get('/public', (_req, res) => {
    res.json({ public: true })
  })
  app.post('/echo', express.text(), (req, res) => {
    res.json({ echo: req.body })
  })
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    hostErrors.push(error)
    res.status(500).json({ error: 'host error handler' })
  })
  return listenOnLoopback(app.listen(0, '127.0.0.1'), hostErrors)
}
