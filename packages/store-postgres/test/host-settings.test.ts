/**
 * The store on a host's own driver configuration, which the host's other code may need and
 * keyward cannot refuse: type parsers that read booleans, times and floats as text and integers
 * as BigInt (set for a Pool with `types`, as `pg.types.setTypeParser` sets them for every pool,
 * or given to PGlite as `parsers`), and session settings that change how PostgreSQL writes values.
 * The whole contract holds on each: before, a boolean read as 'f' was true (a spent refresh token
 * rotated again, an enabled TOTP read as off) and a negative extra_float_digits moved expiries by
 * years. A pool that answers in binary (pg's `binary: true`) is refused: pg cannot read it.
 */
import { PGlite } from '@electric-sql/pglite'
import { runStoreConformance, sampleKeyRecord } from '@keyward/core/testing'
import { migrate, postgresStore } from '@keyward/store-postgres'
import pg, { Pool } from 'pg'
import { expect, it } from 'vitest'
import { describeWith } from '../../../test/support/services.js'
import { onPGlite, onPostgres, randomSchema } from './support.js'

const asText = (value: string) => value
const INT8 = 20
const INT4 = 23
/** Integers as BigInt, every other type as its text. */
const hostParser = (type: number) => (type === INT8 || type === INT4 ? BigInt : asText)
const SESSION = {
  extra_float_digits: '-15',
  DateStyle: 'SQL, DMY',
  TimeZone: 'Pacific/Chatham',
  IntervalStyle: 'sql_standard',
}

describeWith('DATABASE_URL', 'postgres store on a pool that answers in binary', (url) => {
  // pg reads binary results as UTF-8 text, which changes their bytes: refused, never misread.
  it("refuses a pool given pg's binary: true, naming the option", () => {
    // The option is pg's, missing from its types.
    const pool = new Pool({ connectionString: url, binary: true } as ConstructorParameters<typeof Pool>[0])
    expect(() => postgresStore({ client: pool })).toThrow(/client.*binary: true/)
  })

  it('fails every read under pg.defaults.binary, saying why, rather than misread one', async () => {
    const plain = new Pool({ connectionString: url })
    const schema = randomSchema()
    await migrate(plain, { schema })
    await postgresStore({ client: plain, schema }).insertKey(sampleKeyRecord('alice'))
    // A pool's clients take the default as they are made.
    pg.defaults.binary = true
    const binary = new Pool({ connectionString: url })
    try {
      const store = postgresStore({ client: binary, schema })
      await expect(store.listKeys('alice')).rejects.toThrow(/pool must not answer in binary/)
      await expect(store.incrementCounter('addr:x', 60_000, new Date())).rejects.toThrow(/binary/)
    } finally {
      pg.defaults.binary = false
      await plain.query(`DROP SCHEMA "${schema}" CASCADE`)
      await Promise.all([plain.end(), binary.end()])
    }
  })
})

describeWith('DATABASE_URL', 'postgres store on PostgreSQL, through a host-configured pool', (url) => {
  runStoreConformance({
    name: 'postgres store on PostgreSQL (pg.Pool with its own type parsers and session settings)',
    setup: onPostgres(
      url,
      (connectionString) =>
        new Pool({
          connectionString,
          types: { getTypeParser: hostParser },
          options: Object.entries(SESSION)
            .map(([name, value]) => `-c ${name}=${value.replace(/ /g, '\\ ')}`)
            .join(' '),
        }),
    ),
  })
})

runStoreConformance({
  name: 'postgres store on PGlite with its own parsers and session settings',
  setup: onPGlite(async () => {
    const types = [16, INT8, 21, INT4, 700, 701, 1114, 1184, 1700]
    const db = new PGlite({ parsers: Object.fromEntries(types.map((type) => [type, hostParser(type)])) })
    for (const [name, value] of Object.entries(SESSION)) await db.query(`SET ${name} = '${value}'`)
    return db
  }),
})
