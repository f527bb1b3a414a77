import { createHash, randomUUID } from 'node:crypto'
import { migrate, postgresStore } from '@keyward/store-postgres'
import { Pool } from 'pg'
import { expect, it } from 'vitest'
import { describeWith } from '../../../test/support/services.js'
import { gatedPair } from './gated-pair.js'
import { randomSchema } from './support.js'

const DAY = 86_400_000
const sha256Hex = (text: string) => createHash('sha256').update(text).digest('hex')
const next = () => ({
  digest: sha256Hex(randomUUID()),
  createdOn: new Date(),
  expiresOn: new Date(Date.now() + DAY),
})

/**
 * Reuse detection against a rotation of the same family running at that moment, on two
 * instances, their transactions interleaved by the gate (gated-pair.ts).
 */
describeWith('DATABASE_URL', 'postgres store: refresh token reuse under concurrent rotation', (url) => {
  const { schema, admin, stores, waitsFor, withGate } = gatedPair(url, ['victim', 'attacker'])
  const { victim, attacker } = stores
  const table = `"${schema}".keyward_refresh_tokens`

  const family = async () => {
    const first = { ...next(), familyId: randomUUID(), userId: 'u', keyId: null }
    await victim.insertRefreshToken(first)
    const stolen = next()
    expect((await attacker.rotateRefreshToken(first.digest, stolen, new Date())).status).toBe('rotated')
    return { first, stolen }
  }

  const rowsOf = async (familyId: string) =>
    (await admin.query(`SELECT digest FROM ${table} WHERE family_id = $1`, [familyId])).rows

  it('revokes a successor minted by a rotation that commits while the reuse waits', async () => {
    const { first, stolen } = await family()
    const minted = next()
    const [rotation, reuse] = await withGate('keyward_refresh_tokens', 'AFTER INSERT', async (open) => {
      // The attacker's rotation inserts its successor, then waits at the gate with its
      // transaction open, holding the family's lock.
      const rotation = attacker.rotateRefreshToken(stolen.digest, minted, new Date())
      await waitsFor('attacker', 'gate')
      // The victim presents the spent first token meanwhile: its revocation waits for the family.
      const reuse = victim.rotateRefreshToken(first.digest, next(), new Date())
      await waitsFor('victim', 'attacker')
      await open()
      return [await rotation, await reuse] as const
    })
    expect(rotation.status).toBe('rotated')
    expect(reuse.status).toBe('reused')
    expect(await rowsOf(first.familyId)).toEqual([])
    expect((await attacker.rotateRefreshToken(minted.digest, next(), new Date())).status).toBe('not_found')
  })

  it('mints no successor for a rotation that arrives while the family is being revoked', async () => {
    const { first, stolen } = await family()
    const minted = next()
    const [reuse, rotation] = await withGate('keyward_refresh_tokens', 'AFTER DELETE', async (open) => {
      // The victim's revocation deletes the family, then waits at the gate with its transaction
      // open, holding the family's lock.
      const reuse = victim.rotateRefreshToken(first.digest, next(), new Date())
      await waitsFor('victim', 'gate')
      // The attacker's rotation arrives meanwhile, and waits for the family.
      const rotation = attacker.rotateRefreshToken(stolen.digest, minted, new Date())
      await waitsFor('attacker', 'victim')
      await open()
      return [await reuse, await rotation] as const
    })
    expect(reuse.status).toBe('reused')
    // Its token is gone with the family: unknown now, not taken for a reuse (it was never spent).
    expect(rotation).toEqual({ status: 'not_found' })
    expect(await rowsOf(first.familyId)).toEqual([])
    expect((await attacker.rotateRefreshToken(minted.digest, next(), new Date())).status).toBe('not_found')
  })

  it('never waits for a family of the same id on another schema', async () => {
    const elsewhere = randomSchema()
    await migrate(admin, { schema: elsewhere })
    const pool = new Pool({ connectionString: url, application_name: `${elsewhere}_twin` })
    try {
      const { first, stolen } = await family()
      const store = postgresStore({ client: pool, schema: elsewhere })
      const twin = { ...next(), familyId: first.familyId, userId: 'u', keyId: null }
      await store.insertRefreshToken(twin)
      const outcome = await withGate('keyward_refresh_tokens', 'AFTER INSERT', async (open) => {
        // The attacker's rotation holds the family's lock, waiting at the gate.
        const rotation = attacker.rotateRefreshToken(stolen.digest, next(), new Date())
        await waitsFor('attacker', 'gate')
        const twinRotation = store.rotateRefreshToken(twin.digest, next(), new Date())
        // Either the twin's rotation answers with the gate still shut, or it is seen waiting on a lock.
        let answered = false
        const waited = (async () => {
          while (!answered) {
            const { rows } = await admin.query(
              "SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
              [`${elsewhere}_twin`],
            )
            if (rows.length > 0) return 'waited for the other schema'
          }
          return 'answered'
        })()
        const first = await Promise.race([
          twinRotation.then((result) => {
            answered = true
            return result.status
          }),
          waited,
        ])
        await open()
        await Promise.all([rotation, twinRotation, waited])
        return first
      })
      expect(outcome).toBe('rotated')
    } finally {
      await admin.query(`DROP SCHEMA IF EXISTS "${elsewhere}" CASCADE`)
      await pool.end()
    }
  })

  it('leaves no live member in any family revoked during concurrent rotations (unforced timing)', async () => {
    const outcomes: Record<string, number> = {}
    for (let i = 0; i < 150; i++) {
      const { first, stolen } = await family()
      const minted = next()
      const [reuse] = await Promise.all([
        victim.rotateRefreshToken(first.digest, next(), new Date()),
        attacker.rotateRefreshToken(stolen.digest, minted, new Date()),
      ])
      const after = await attacker.rotateRefreshToken(minted.digest, next(), new Date())
      const outcome = `${reuse.status}/${after.status}`
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1
    }
    expect(outcomes).toEqual({ 'reused/not_found': 150 })
  })
})
