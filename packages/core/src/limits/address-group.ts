import { isIPv6 } from 'node:net'

/** Bits of an IPv6 address that name one customer: a /56, as ISPs assign (express-rate-limit's default). */
const IPV6_PREFIX_GROUPS = 3 // the first 48 bits, then the high byte of the fourth group

/**
 * The group a client address is limited as. An IPv4 address (or one mapped into IPv6) alone; an
 * IPv6 address by its /56, since anyone holds a whole block of them and could rotate through it;
 * anything else (a name, a framework's placeholder) as given.
 */
export function addressGroup(ip: string): string {
  if (!ip.includes(':')) return ip
  const address = ip.replace(/%.*$/, '') // a zone id (fe80::1%eth0)
  if (!isIPv6(address)) return ip
  const groups = ipv6Groups(address)
  const [, , , , , mapped = 0, high = 0, low = 0] = groups
  if (groups.slice(0, 5).every((group) => group === 0) && mapped === 0xffff) {
    return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.')
  }
  const prefix = groups.slice(0, IPV6_PREFIX_GROUPS).map((group) => group.toString(16))
  return `${prefix.join(':')}:${((groups[IPV6_PREFIX_GROUPS] ?? 0) & 0xff00).toString(16)}::/56`
}

/** The eight 16-bit groups of a valid IPv6 address, `::` expanded and a dotted IPv4 tail converted. */
function ipv6Groups(address: string): number[] {
  let text = address
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text)
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number]
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head = '', tail] = text.split('::')
  const parse = (part: string) =>
    part === '' ? [] : part.split(':').map((group) => Number.parseInt(group, 16))
  const front = parse(head)
  const back = tail === undefined ? [] : parse(tail)
  return [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back]
}
