/** A tiny JSON client for the walk-throughs, as curl would be used in the README. */
export async function call(
  url: string,
  init: { method?: string; headers?: Record<string, string>; json?: unknown } = {},
  // biome-ignore lint/suspicious/noExplicitAny: the walk-throughs read whatever JSON the server sent
): Promise<{ status: number; body: any; headers: Headers }> {
  const response = await fetch(url, {
    method: init.method ?? (init.json === undefined ? 'GET' : 'POST'),
    headers: { ...(init.json === undefined ? {} : { 'content-type': 'application/json' }), ...init.headers },
    body: init.json === undefined ? undefined : JSON.stringify(init.json),
  })
  const text = await response.text()
  return { status: response.status, body: text ? JSON.parse(text) : undefined, headers: response.headers }
}
