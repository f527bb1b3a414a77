import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { addressGroup } from '../src/limits/address-group.js'

/** An IPv6 address written out in full: eight groups of four hex digits. */
const fullForm = (groups: number[]) => groups.map((group) => group.toString(16).padStart(4, '0')).join(':')
/** The same address as WHATWG URL writes it: compressed, lower case (RFC 5952). */
const canonical = (groups: number[]) => new URL(`http://[${fullForm(groups)}]/`).hostname.slice(1, -1)
/** Mapped (::ffff:0:0/96) or translated (64:ff9b::/96): limited as the IPv4 address inside. */
const embedsIPv4 = (groups: number[]) =>
  (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) ||
  (groups[0] === 0x64 && groups[1] === 0xff9b && groups.slice(2, 6).every((group) => group === 0))
const groupsArb = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 })

describe('the group a client address is limited as', () => {
  it.each([
    ['203.0.113.7', '203.0.113.7'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['::FFFF:cb00:7107', '203.0.113.7'],
    ['2001:db8::1', '2001:db8:0:0::/56'],
    ['2001:DB8:0:00ff:ffff:ffff:ffff:ffff', '2001:db8:0:0::/56'],
    ['2001:db8:0:100::1', '2001:db8:0:100::/56'],
    ['fe80::1%eth0', 'fe80:0:0:0::/56'],
    ['64:ff9b::192.0.2.33', '192.0.2.33'],
    ['64:ff9b::c000:221', '192.0.2.33'],
    ['64:ff9b:1::192.0.2.33', '64:ff9b:1:0::/56'],
    ['::ffff:203.113.0.7', '203.113.0.7'],
    ['64:ff9b::198.51.100.9', '198.51.100.9'],
    // With the port some proxies forward (Azure's X-Forwarded-For): one group for every connection.
    ['203.0.113.7:51234', '203.0.113.7'],
    ['[2001:db8::1]:443', '2001:db8:0:0::/56'],
    ['[2001:db8::1]', '2001:db8:0:0::/56'],
    ['[::ffff:203.0.113.7]:8080', '203.0.113.7'],
    ['[fe80::1%eth0]:80', 'fe80:0:0:0::/56'],
    ['999.0.113.7:51234', '999.0.113.7:51234'],
    ['[not:an:address]:80', '[not:an:address]:80'],
    // An address with text before or after it is no address: kept as given, not taken for the address.
    ['x203.0.113.7:51234', 'x203.0.113.7:51234'],
    ['203.0.113.7:51234x', '203.0.113.7:51234x'],
    ['x[2001:db8::1]:443', 'x[2001:db8::1]:443'],
    ['[2001:db8::1]:443x', '[2001:db8::1]:443x'],
    // A zone id after a dotted IPv4 tail is dropped before the tail is read.
    ['::ffff:203.0.113.7%eth0', '203.0.113.7'],
    ['::1', '0:0:0:0::/56'],
    ['unknown', 'unknown'],
    ['not:an:address', 'not:an:address'],
  ])('%s is limited as %s', (ip, group) => {
    expect(addressGroup(ip)).toBe(group)
  })

  it('is the same for every way of writing an address, and for every address of one /56', () => {
    fc.assert(
      fc.property(
        groupsArb,
        fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 4, maxLength: 4 }),
        (groups, low) => {
          fc.pre(!embedsIPv4(groups))
          const group = addressGroup(fullForm(groups))
          expect(addressGroup(canonical(groups))).toBe(group)
          const neighbour = [
            ...groups.slice(0, 3),
            ((groups[3] as number) & 0xff00) | ((low[0] as number) & 0xff),
            ...low.slice(1),
            0,
          ]
          if (!embedsIPv4(neighbour)) expect(addressGroup(fullForm(neighbour))).toBe(group)
        },
      ),
    )
  })

  it('keeps text that is no address as given when short and plain, else as its digest: bounded, plain, one group per text', () => {
    expect(addressGroup('x'.repeat(64))).toBe('x'.repeat(64))
    const long = addressGroup('x'.repeat(65))
    const spaced = addressGroup('client one')
    const digest = /^sha256:[A-Za-z0-9_-]{43}$/
    expect(long).toMatch(digest)
    expect(spaced).toMatch(digest)
    expect(long).not.toBe(spaced)
    expect(addressGroup('x'.repeat(65))).toBe(long)
  })

  it('tells apart addresses whose first 56 bits differ', () => {
    fc.assert(
      fc.property(groupsArb, groupsArb, (a, b) => {
        const prefix = (groups: number[]) => [...groups.slice(0, 3), (groups[3] as number) >> 8].join()
        fc.pre(prefix(a) !== prefix(b) && !embedsIPv4(a) && !embedsIPv4(b))
        expect(addressGroup(fullForm(a))).not.toBe(addressGroup(fullForm(b)))
      }),
    )
  })
})
