import { connect, createServer, type Server, type Socket } from 'node:net'
import { type KeyStore, type Keyward, StoreUnavailableError } from '@keyward/core'
import { sampleKeyRecord } from '@keyward/core/testing'
import { expect } from 'vitest'

/**
 * A TCP proxy in front of a real PostgreSQL or Redis server that a test can cut and restore:
 * the store's client talks to the real server through it, and a cut drops every open
 * connection and refuses new ones, as a network failure or a server crash would.
 */
export interface CuttableProxy {
  readonly port: number
  /** How many connections the proxy has accepted, refused ones included. */
  readonly accepted: number
  cut(): void
  /** Ends a cut, and silence. */
  restore(): void
  /**
   * Open connections stop carrying data but stay open, as when a peer vanished without a FIN
   * or a load balancer dropped an idle connection; new connections pass.
   */
  stall(): void
  /**
   * New connections are accepted but never answered, as when the server behind a proxy or load
   * balancer hangs; open connections carry on.
   */
  silence(): void
  /**
   * New connections are accepted and kept waiting, unanswered, until `restore`, which carries
   * them on to the server with what they sent meanwhile: a server slow to accept, not a lost one.
   */
  hold(): void
  /**
   * The next data a client sends that matches `pattern` reaches the server, then that connection
   * is dropped before any answer gets back: a command sent, its reply lost. Resolves once it has.
   */
  dropAfter(pattern: RegExp): Promise<void>
  /**
   * The next data a client sends that matches `pattern` reaches the server, and the server's
   * answer gets back, with the end of the connection right behind it: a connection that closes
   * as soon as it has answered (as a server does in a failover). Resolves once it has.
   */
  endAfterReply(pattern: RegExp): Promise<void>
  /**
   * The next data a client sends that matches `pattern` reaches the server, and the server's
   * answer is held back: a command in flight for as long as the test wants. Resolves, once the
   * command has reached the server, with the function that lets the answer (and what follows)
   * through.
   */
  holdReplyTo(pattern: RegExp): Promise<() => void>
  /** What the server has sent since the command `holdReplyTo` caught, held back so far. */
  readonly heldReply: Buffer
  close(): Promise<void>
}

/** Whether `data` holds one whole RESP reply: a line (+, -, :) or a bulk or verbatim string. */
function isWholeReply(data: Buffer): boolean {
  const lineEnd = data.indexOf('\r\n')
  if (lineEnd < 0) return false
  const type = String.fromCharCode(data[0] ?? 0)
  if (type !== '$' && type !== '=') return true
  const length = Number(data.subarray(1, lineEnd).toString('latin1'))
  return length < 0 || data.length >= lineEnd + 2 + length + 2
}

export async function cuttableProxy(targetHost: string, targetPort: number): Promise<CuttableProxy> {
  const sockets = new Set<Socket>()
  let open = true
  let silent = false
  let holding = false
  const held: Socket[] = []
  let accepted = 0
  let dropAfter: { readonly pattern: RegExp; readonly dropped: () => void } | undefined
  let endAfterReply: { readonly pattern: RegExp; readonly ended: () => void } | undefined
  let holdReply: { readonly pattern: RegExp; readonly holding: (release: () => void) => void } | undefined
  let heldReply: Buffer[] = []
  const server: Server = createServer((client) => {
    accepted += 1
    if (!open) {
      client.destroy()
      return
    }
    if (silent || holding) {
      // Kept (so that a cut or close ends it); silenced, it is read and nothing is forwarded or
      // answered; held, it is left unread until `restore` forwards it.
      sockets.add(client)
      client.on('error', () => sockets.delete(client)).on('close', () => sockets.delete(client))
      if (holding) held.push(client)
      else client.resume()
      return
    }
    forward(client)
  })
  const forward = (client: Socket) => {
    const upstream = connect(targetPort, targetHost)
    sockets.add(client)
    sockets.add(upstream)
    const drop = () => {
      client.destroy()
      upstream.destroy()
      sockets.delete(client)
      sockets.delete(upstream)
    }
    client.on('error', drop).on('close', drop)
    upstream.on('error', drop).on('close', drop)
    client.pipe(upstream)
    upstream.pipe(client)
    client.on('data', (chunk: Buffer) => {
      const trap = endAfterReply
      if (trap?.pattern.test(chunk.toString('latin1'))) {
        endAfterReply = undefined
        upstream.unpipe(client)
        let reply = Buffer.alloc(0)
        const onReply = (data: Buffer) => {
          reply = Buffer.concat([reply, data])
          if (!isWholeReply(reply)) return
          upstream.off('data', onReply)
          client.end(reply)
          upstream.end()
          trap.ended()
        }
        upstream.on('data', onReply)
        // Unpiped, the upstream was paused: a listener alone would not start it again.
        upstream.resume()
        return
      }
      const holder = holdReply
      if (holder?.pattern.test(chunk.toString('latin1'))) {
        holdReply = undefined
        upstream.unpipe(client)
        const answer: Buffer[] = []
        heldReply = answer
        const keep = (data: Buffer) => answer.push(data)
        upstream.on('data', keep)
        upstream.resume()
        holder.holding(() => {
          upstream.off('data', keep)
          heldReply = []
          if (client.destroyed) return
          client.write(Buffer.concat(answer))
          upstream.pipe(client)
        })
        return
      }
      const armed = dropAfter
      if (armed === undefined || !armed.pattern.test(chunk.toString('latin1'))) return
      dropAfter = undefined
      // The pipe has written the chunk on: let the server have it, and the client nothing back.
      upstream.unpipe(client)
      client.destroy()
      upstream.end()
      armed.dropped()
    })
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('proxy did not bind')
  return {
    port: address.port,
    get accepted() {
      return accepted
    },
    cut() {
      open = false
      for (const socket of sockets) socket.destroy()
      sockets.clear()
    },
    restore() {
      open = true
      silent = false
      holding = false
      for (const client of held.splice(0)) if (!client.destroyed) forward(client)
    },
    stall() {
      for (const socket of sockets) socket.unpipe().pause()
    },
    silence() {
      silent = true
    },
    hold() {
      holding = true
    },
    dropAfter(pattern) {
      return new Promise((dropped) => {
        dropAfter = { pattern, dropped }
      })
    },
    endAfterReply(pattern) {
      return new Promise((ended) => {
        endAfterReply = { pattern, ended }
      })
    },
    holdReplyTo(pattern) {
      return new Promise((holding) => {
        holdReply = { pattern, holding }
      })
    },
    get heldReply() {
      return Buffer.concat(heldReply)
    },
    close: () =>
      new Promise<void>((resolve) => {
        open = false
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}

/**
 * What a store reached through `proxy` must do when the connection is cut and restored: fail
 * closed while cut (keyward's StoreUnavailableError, the store's own call rejected, never a
 * false answer), then answer again once restored, its client reconnecting by itself: at once
 * (the next call), or on its own timer within 10 s. keyward's health says so meanwhile: the store
 * unavailable and its channel interrupted while cut, both back once restored.
 */
export async function expectFailsClosedWhileCut(
  proxy: CuttableProxy,
  store: KeyStore,
  keyward: Keyward,
  unknownKey: string,
  reconnects: 'at once' | 'on a timer',
): Promise<void> {
  const events = async () => (await keyward.health()).events
  try {
    await expect.poll(events, { timeout: 10_000 }).toBe('listening')
    const issued = await keyward.issueKey('alice', { name: 'cut test' })
    proxy.cut()
    await expect(keyward.verifyKey(unknownKey)).rejects.toBeInstanceOf(StoreUnavailableError)
    await expect(store.findKeyById(issued.id)).rejects.toThrow()
    expect(await keyward.health()).toMatchObject({ ok: false, store: 'unavailable' })
    await expect.poll(events, { timeout: 10_000 }).toBe('interrupted')
    proxy.restore()
    // A pg pool connects anew on the next call; ioredis on its retry timer.
    if (reconnects === 'at once')
      expect(await store.findKeyById(issued.id)).toMatchObject({ name: 'cut test' })
    else
      await expect
        .poll(() => store.findKeyById(issued.id).catch(() => undefined), { timeout: 10_000 })
        .toMatchObject({ name: 'cut test' })
    expect(await keyward.verifyKey(issued.key)).toMatchObject({ ok: true })
    await expect
      .poll(() => keyward.health(), { timeout: 10_000 })
      .toEqual({ ok: true, store: 'up', events: 'listening' })
  } finally {
    proxy.restore()
    await keyward.close()
  }
}

/** A key deleted through `deleting` reaches a subscriber, whose key ids are `received`, within 5 s. */
export async function expectDeletionHeard(deleting: KeyStore, received: readonly string[]): Promise<void> {
  const record = sampleKeyRecord('alice', { name: 'after the cut' })
  await deleting.insertKey(record)
  await deleting.deleteKey('alice', { id: record.id })
  await expect.poll(() => received, { timeout: 5_000 }).toContain(record.id)
}
