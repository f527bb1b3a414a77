import { createHash } from 'node:crypto'
import { isIPv4, isIPv6 } from 'node:net'
import type { GuardRequest } from '../http/types.js'

/**
 * The one group of the HTTP requests whose framework resolved no client address: every request of
 * a server on a Unix socket, where all clients come through the proxy in front (as behind a proxy
 * not trusted, where all share its address), and that of a client that reset its connection
 * before its address was read. Limited together rather than not at all.
 */
export const UNRESOLVED_ADDRESS = 'unresolved'

/**
 * The address a request is limited by: its own; else its connection's peer (plain `node:http`'s
 * request has no `ip`: with no proxy in front, the peer is the client); else the unresolved group
 * for an HTTP request (one with a connection) that has none (`undefined`, or Koa's `''`). A host's
 * own call with no address is not limited by address.
 */
export const requestAddress = (request: GuardRequest): string | undefined =>
  request.ip || (request.socket == null ? undefined : peerAddress(request.socket) || UNRESOLVED_ADDRESS)

function peerAddress(socket: object): string | undefined {
  const address = (socket as { remoteAddress?: unknown }).remoteAddress
  return typeof address === 'string' ? address : undefined
}

/** Bits of an IPv6 address that name one customer: a /56, as ISPs assign (express-rate-limit's default). */
const IPV6_PREFIX_GROUPS = 3 // the first 48 bits, then the high byte of the fourth group
/** RFC 6052's well-known prefix, 64:ff9b::/96: an IPv4 client translated into IPv6 (NAT64, SIIT-DC). */
const NAT64_PREFIX = [0x64, 0xff9b, 0, 0, 0, 0]
/** ::ffff:0:0/96: an IPv4 client on a dual-stack socket. */
const MAPPED_PREFIX = [0, 0, 0, 0, 0, 0xffff]

/**
 * The group a client address is limited as. An IPv4 address (or one mapped or translated into
 * IPv6) alone; an IPv6 address by its /56, since anyone holds a whole block of them and could
 * rotate through it; anything else (a name, a framework's placeholder) as given, or by its digest
 * when it is long or odd. A port some proxies forward with the address is dropped: kept, every
 * connection would be a group of its own.
 */
export function addressGroup(ip: string): string {
  if (!ip.includes(':')) return isIPv4(ip) ? ip : asGiven(ip)
  const address = withoutPort(ip).replace(/%.*$/, '') // and a zone id (fe80::1%eth0)
  if (isIPv4(address)) return address
  if (!isIPv6(address)) return asGiven(ip)
  const groups = ipv6Groups(address)
  if (startsWith(groups, MAPPED_PREFIX) || startsWith(groups, NAT64_PREFIX)) {
    const [, , , , , , high = 0, low = 0] = groups
    return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.')
  }
  const prefix = groups.slice(0, IPV6_PREFIX_GROUPS).map((group) => group.toString(16))
  return `${prefix.join(':')}:${((groups[IPV6_PREFIX_GROUPS] ?? 0) & 0xff00).toString(16)}::/56`
}

/**
 * What is not an address (a forwarded header a proxy passed on unchecked, under the host's
 * `trust proxy`) is the client's own text: kept as given when short and plain, else by its digest,
 * so that it stays a bounded store key (a long one overflows PostgreSQL's index row) with no
 * character a store refuses.
 */
function asGiven(ip: string): string {
  return /^[\x21-\x7e]{0,64}$/.test(ip) ? ip : `sha256:${createHash('sha256').update(ip).digest('base64url')}`
}

/** `203.0.113.7:51234` and `[2001:db8::1]:443` (or `[2001:db8::1]`) without the port and brackets. */
function withoutPort(ip: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(ip)
  if (bracketed) return bracketed[1] as string
  const withPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(ip)
  return withPort ? (withPort[1] as string) : ip
}

const startsWith = (groups: readonly number[], prefix: readonly number[]) =>
  prefix.every((group, index) => groups[index] === group)

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
