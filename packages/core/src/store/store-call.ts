import { StoreUnavailableError } from '../errors.js'

/**
 * Every store call goes through here: any rejection becomes a StoreUnavailableError, so an
 * outage can never be mistaken for "not found" and the request fails closed.
 */
export async function storeCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (error) {
    throw error instanceof StoreUnavailableError ? error : new StoreUnavailableError(error)
  }
}
