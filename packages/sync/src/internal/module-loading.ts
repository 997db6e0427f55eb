/**
 * Whether this process may load the module a shareable marker names when it meets a kind it has
 * not registered (`shareable.ts`). A process that decodes values from peers it does not trust with
 * code (a `SyncManager`'s server) turns that off: a marker names a module as a pickle names a
 * class, and loading it would run any file a peer names.
 *
 * @module
 */

const NO_LOADING_KEY = Symbol.for('tandem.shareable.noLoading')

/**
 * From now on, this process refuses markers of kinds it has not registered (`ERR_NOT_SHAREABLE`)
 * instead of loading the module a marker names. One flag per thread (its global object), shared
 * by every copy of this module.
 */
export function refuseModuleLoading(): void {
  ;(globalThis as Record<symbol, unknown>)[NO_LOADING_KEY] = true
}

/** Whether {@link refuseModuleLoading} was called in this thread. */
export function moduleLoadingRefused(): boolean {
  return (globalThis as Record<symbol, unknown>)[NO_LOADING_KEY] === true
}
