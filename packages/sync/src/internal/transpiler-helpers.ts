/**
 * The module-scope helpers that transpilers call from inside function bodies, for task functions
 * shipped by source (src/task.ts compiles each shipped source with these in scope).
 *
 * A function's source text (`fn.toString()`) is what the transpiler emitted for it, and may call
 * helpers that the transpiler defined once at the top of the sender's module. Shipped to a worker,
 * the source no longer sees them: `__callDispose is not defined`. Node 20 has no native `using`,
 * so every `using` / `await using` inside a task is lowered:
 *
 * | emitted by | helpers called in the body | for |
 * | --- | --- | --- |
 * | esbuild (tsx), `keepNames` | `__name(fn, 'name')` | function names |
 * | esbuild 0.18+ (tsx) | `__using(stack, value, async)`, `__callDispose(stack, error, hasError)` | `using`, `await using` |
 * | tsc 5.2+ (target < ESNext) | `__addDisposableResource(env, value, async)`, `__disposeResources(env)` | `using`, `await using` |
 *
 * The implementations follow the ECMAScript explicit resource management proposal the way both
 * transpilers' runtime helpers do (esbuild `internal/runtime/runtime.go`, tslib `tslib.es6.js`):
 * resources are disposed in reverse order, an `await using` of a value with only
 * `Symbol.dispose` awaits nothing extra, and an error thrown while disposing after another error
 * becomes a `SuppressedError` (`error`, `suppressed`).
 * @module
 */

type Dispose = (this: unknown) => unknown

/** esbuild's stack entry: [async, dispose, value]; a bare [true] for `await using x = null`. */
type EsbuildEntry = [async: boolean | undefined, dispose?: Dispose, value?: unknown]

/** tsc's disposal environment, created in the lowered function body. */
interface TscEnv {
  stack: { value?: unknown; dispose?: Dispose; async: boolean }[]
  error: unknown
  hasError: boolean
}

function suppressed(error: unknown, suppressedError: unknown, message: string): Error {
  const Suppressed = (globalThis as { SuppressedError?: new (e: unknown, s: unknown, m: string) => Error }).SuppressedError
  if (typeof Suppressed === 'function') return new Suppressed(error, suppressedError, message)
  const err = new Error(message) as Error & { error: unknown; suppressed: unknown }
  err.name = 'SuppressedError'
  err.error = error
  err.suppressed = suppressedError
  return err
}

/** Finds the dispose method of a `using` (async: `await using`) value; null/undefined has none. */
function disposerOf(value: unknown, async: boolean): Dispose | undefined {
  if (value === null || value === undefined) return undefined
  if (typeof value !== 'object' && typeof value !== 'function') throw new TypeError('Object expected')
  const v = value as Record<symbol, unknown>
  let dispose = async ? v[Symbol.asyncDispose] : undefined
  let syncInAsync = false
  if (dispose === undefined || dispose === null) {
    dispose = v[Symbol.dispose]
    syncInAsync = async
  }
  if (typeof dispose !== 'function') throw new TypeError('Object not disposable')
  if (!syncInAsync) return dispose as Dispose
  const inner = dispose as Dispose
  // `await using` of a sync disposable: a throw becomes a rejection, the result is not awaited.
  return function (this: unknown) {
    try {
      inner.call(this)
    } catch (err) {
      return Promise.reject(err)
    }
    return undefined
  }
}

/** esbuild: registers `value` for disposal at the end of its block. */
function esbuildUsing(stack: EsbuildEntry[], value: unknown, async?: boolean): unknown {
  const dispose = disposerOf(value, async === true)
  if (dispose !== undefined) stack.push([async, dispose, value])
  else if (async) stack.push([async])
  return value
}

/** esbuild: disposes the block's resources; a Promise if one of them is async. */
function esbuildCallDispose(stack: EsbuildEntry[], error: unknown, hasError: boolean): unknown {
  const fail = (err: unknown): void => {
    error = hasError ? suppressed(err, error, 'An error was suppressed during disposal') : err
    hasError = true
  }
  const next = (): unknown => {
    for (let entry = stack.pop(); entry !== undefined; entry = stack.pop()) {
      try {
        const result = entry[1]?.call(entry[2])
        if (entry[0]) {
          return Promise.resolve(result).then(next, (err) => {
            fail(err)
            return next()
          })
        }
      } catch (err) {
        fail(err)
      }
    }
    if (hasError) throw error
    return undefined
  }
  return next()
}

/** tsc: registers `value` for disposal at the end of its block. */
function tscAddDisposableResource(env: TscEnv, value: unknown, async: boolean): unknown {
  const dispose = disposerOf(value, async)
  if (dispose !== undefined) env.stack.push({ value, dispose, async })
  else if (async) env.stack.push({ async: true })
  return value
}

/** tsc: disposes the block's resources; a Promise if one of them is async. */
function tscDisposeResources(env: TscEnv): unknown {
  const fail = (err: unknown): void => {
    env.error = env.hasError ? suppressed(err, env.error, 'An error was suppressed during disposal.') : err
    env.hasError = true
  }
  // s: 1 = an `await using null` is pending (one await owed), 2 = something was awaited.
  let s = 0
  const next = (): unknown => {
    for (let r = env.stack.pop(); r !== undefined; r = env.stack.pop()) {
      try {
        if (!r.async && s === 1) {
          s = 0
          env.stack.push(r)
          return Promise.resolve().then(next)
        }
        if (r.dispose) {
          const result = r.dispose.call(r.value)
          if (r.async) {
            s |= 2
            return Promise.resolve(result).then(next, (err) => {
              fail(err)
              return next()
            })
          }
        } else s |= 1
      } catch (err) {
        fail(err)
      }
    }
    if (s === 1) return env.hasError ? Promise.reject(env.error) : Promise.resolve()
    if (env.hasError) throw env.error
    return undefined
  }
  return next()
}

/** esbuild's `keepNames`: names a function or class. */
function esbuildName<T>(target: T, value: string): T {
  try {
    Object.defineProperty(target, 'name', { value, configurable: true })
  } catch {}
  return target
}

/**
 * The helpers by the names transpilers call them. src/task.ts compiles every shipped source as
 * `new Function(...Object.keys(HELPERS), 'return (source)')(...Object.values(HELPERS))`.
 */
export const TRANSPILER_HELPERS: Readonly<Record<string, Function>> = Object.freeze({
  __name: esbuildName,
  __using: esbuildUsing,
  __callDispose: esbuildCallDispose,
  __addDisposableResource: tscAddDisposableResource,
  __disposeResources: tscDisposeResources,
})
