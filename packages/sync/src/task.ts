/**
 * Task functions (API.md convention 7): how a callable given on one thread runs on another.
 *
 * A task is either
 * - a **self-contained function**, shipped by its source text and compiled once per worker. It
 *   may use its parameters, globals and modules it imports itself (`await import('node:fs')`),
 *   not variables of its enclosing scope; using one throws a `ReferenceError` with code
 *   `ERR_TASK_CAPTURED_VARIABLE` and a hint; or
 * - a **module reference** ({@link moduleRef}): a module URL or path and an export name, loaded
 *   with `import()` in the worker (works under tsx for `.ts` and for compiled `.js`).
 *
 * Either may be async; its Promise is awaited by whoever runs it.
 *
 * @example
 * ```ts
 * import { moduleRef } from '@tandem/sync/task'
 * new Thread({ target: (n: number) => console.log(n * 2), args: [21] })
 * new Thread({ target: moduleRef(new URL('./jobs.ts', import.meta.url), 'crunch') })
 * ```
 * @module
 */
import { createRequire } from 'node:module'
import { isAbsolute, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import * as errors from './errors.ts'
import { TaskModuleError, typeError } from './errors.ts'
import { describe } from './internal/validate.ts'
import { TRANSPILER_HELPERS } from './internal/transpiler-helpers.ts'

// A string key (not a symbol) so that a module reference survives the structured clone: one
// sent through a queue or in args is still a module reference on arrival.
const MODULE_REF = '\u0000tandem.moduleRef'

/** A function exported by a module, named by URL (or path) and export name. */
export interface ModuleRef<F extends (...args: any[]) => unknown = (...args: any[]) => unknown> {
  readonly [MODULE_REF]: true
  /** Absolute `file:` URL (or bare specifier) of the module. */
  readonly module: string
  /** Name of the export. @default 'default' */
  readonly name: string
  /** Type-only: the function's type, so `submit(moduleRef<typeof f>(...))` is typed. */
  readonly __fn?: F
}

/** A callable that can run on another thread. */
export type TaskFunction<A extends unknown[] = any[], R = unknown> = ((...args: A) => R) | ModuleRef<(...args: A) => R>

/**
 * Names a function exported by a module, to be imported in the worker that runs it.
 * @param module a `file:` URL (`import.meta.url`, `new URL('./x.ts', import.meta.url)`), an
 *   absolute path, a path relative to the current working directory, or a bare package specifier
 * @param name the export's name
 * @default name 'default'
 * @returns a reference usable wherever a task function is accepted
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` if `module` or `name` is not a string/URL
 * @example A function of this very module as a Thread target (the worker imports the module,
 * so keep process-level code under `if (isMainThread)`):
 * ```ts
 * import { isMainThread } from 'node:worker_threads'
 * import { moduleRef } from '@tandem/sync/task'
 * import { Thread } from '@tandem/sync/thread'
 *
 * export function greet(who: string): void {
 *   console.log(`hello ${who}`)
 * }
 *
 * if (isMainThread) {
 *   const t = new Thread({ target: moduleRef<typeof greet>(import.meta.url, 'greet'), args: ['world'] })
 *   t.start()
 *   t.join() // hello world
 * }
 * ```
 */
export function moduleRef<F extends (...args: any[]) => unknown = (...args: any[]) => unknown>(module: string | URL, name = 'default'): ModuleRef<F> {
  if (typeof name !== 'string') throw typeError(`moduleRef(): the export name must be a string; received ${describe(name)}`)
  return { [MODULE_REF]: true, module: resolveModule(module), name }
}

/**
 * True if `value` came from {@link moduleRef}.
 * @example
 * ```ts
 * import { isModuleRef, moduleRef } from '@tandem/sync/task'
 *
 * const ref = moduleRef('node:path', 'basename')
 * console.log(isModuleRef(ref), isModuleRef(() => 1)) // true false
 * console.log(isModuleRef(structuredClone(ref))) // true: it survives the structured clone
 * ```
 */
export function isModuleRef(value: unknown): value is ModuleRef {
  return typeof value === 'object' && value !== null && (value as ModuleRef)[MODULE_REF] === true
}

/**
 * Resolves a module specifier to an absolute URL where possible: what {@link moduleRef} stores.
 * @example
 * ```ts
 * import { resolve } from 'node:path'
 * import { pathToFileURL } from 'node:url'
 * import { resolveModule } from '@tandem/sync/task'
 *
 * console.log(resolveModule('./jobs.ts') === pathToFileURL(resolve('jobs.ts')).href) // true: against the working directory
 * console.log(resolveModule('node:os'), resolveModule('some-package')) // node:os some-package
 * ```
 */
export function resolveModule(module: string | URL): string {
  if (module instanceof URL) return module.href
  if (typeof module !== 'string' || module === '') {
    throw typeError(`A module reference needs a module URL or path; received ${describe(module)}`)
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(module) && !/^[a-z]:[\\/]/i.test(module)) return module // URL, node:, data:
  if (isAbsolute(module)) return pathToFileURL(module).href
  if (module.startsWith('./') || module.startsWith('../')) return pathToFileURL(resolve(module)).href
  return module // bare specifier
}

/** Serialisable form of a task, as it crosses to a worker. */
export type TaskSpec = { readonly kind: 'source'; readonly source: string; readonly name: string } | { readonly kind: 'module'; readonly module: string; readonly name: string }

const specCache = new WeakMap<Function, TaskSpec>()
const specByText = new Map<string, TaskSpec>()

/**
 * Turns a task function or module reference into a {@link TaskSpec}.
 * @param what names the parameter in error messages (`'Thread target'`, `'fn'`)
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for a non-callable, a class, a bound or native function.
 * @example
 * ```ts
 * import { moduleRef, toTaskSpec } from '@tandem/sync/task'
 *
 * console.log(toTaskSpec((a: number, b: number) => a + b).kind) // source
 * console.log(toTaskSpec(moduleRef('node:path', 'basename'))) // { kind: 'module', module: 'node:path', name: 'basename' }
 * try {
 *   toTaskSpec(Math.max, 'fn') // native: no source to ship
 * } catch (err) {
 *   console.log((err as TypeError & { code: string }).code) // ERR_INVALID_ARG_TYPE
 * }
 * ```
 */
export function toTaskSpec(fn: unknown, what = 'task function'): TaskSpec {
  if (isModuleRef(fn)) return { kind: 'module', module: fn.module, name: fn.name }
  if (typeof fn !== 'function') {
    throw typeError(`The ${what} must be a function or a moduleRef(url, name); received ${describe(fn)}`)
  }
  const cached = specCache.get(fn)
  if (cached !== undefined) return cached
  const text = Function.prototype.toString.call(fn)
  // A closure created per call (`pool.submit((x) => x + 1, i)` in a loop) is a new function
  // object with the same text: reuse its checked spec instead of parsing it again.
  const byText = specByText.get(text)
  if (byText !== undefined && byText.name === fn.name) return byText // (no WeakMap entry: such closures are usually short-lived)
  if (/^class[\s{]/.test(text)) {
    throw typeError(`The ${what} is a class (${fn.name}); pass a function, or subclass Thread and override run()`)
  }
  const source = normalizeSource(text)
  if (source === undefined) {
    throw typeError(
      `The ${what} (${fn.name || 'anonymous'}) has no shippable source (bound or native function?); ` + 'pass a plain self-contained function or a moduleRef(url, name)',
    )
  }
  const spec: TaskSpec = { kind: 'source', source, name: fn.name }
  specCache.set(fn, spec)
  if (specByText.size >= 1024) specByText.clear()
  specByText.set(text, spec)
  return spec
}

/** Returns the text as a parenthesisable function expression, or undefined. */
function normalizeSource(text: string): string | undefined {
  if (text.includes('[native code]')) return undefined
  if (compiles(text)) return text
  // Method shorthand: `name(a) {}`, `async name() {}`, `*gen() {}`, `async *gen() {}`.
  const m = /^(async\s+)?(\*\s*)?/.exec(text)!
  const rest = text.slice(m[0].length)
  const head = `${m[1] ?? ''}function${m[2] ? '*' : ''}`
  const named = `${head} ${rest.startsWith('[') ? 'anonymous' + rest.slice(rest.indexOf(']') + 1) : rest}`
  if (compiles(named)) return named
  // A key that cannot name a function (`delete`, `'my-key'`, `42`): drop the key.
  const paren = rest.indexOf('(')
  const anonymous = paren < 0 ? '' : `${head} ${rest.slice(paren)}`
  return paren >= 0 && compiles(anonymous) ? anonymous : undefined
}

function compiles(source: string): boolean {
  try {
    // Parses only; the body does not run.
    new Function(`return (${source}\n)`)
    return true
  } catch {
    return false
  }
}

// ---- worker side -----------------------------------------------------------------------------

// Shipped source may call helpers that only exist in the sender's module scope: under tsx,
// esbuild's `__name(fn, "name")` (keepNames) and `__using`/`__callDispose` (`using` and
// `await using`, which Node 20 lacks); after tsc, `__addDisposableResource`/`__disposeResources`.
// Compiled tasks get local ones (internal/transpiler-helpers.ts).
const HELPER_NAMES = Object.keys(TRANSPILER_HELPERS)
const HELPER_VALUES = Object.values(TRANSPILER_HELPERS)

const compiled = new Map<string, Function>()
const loaded = new Map<string, Function>()
const requireHere = createRequire(import.meta.url)

function compile(spec: Extract<TaskSpec, { kind: 'source' }>): Function {
  let fn = compiled.get(spec.source)
  if (fn === undefined) {
    fn = new Function(...HELPER_NAMES, `return (${spec.source}\n)`)(...HELPER_VALUES) as Function
    const captured = withCapturedHint(fn)
    compiled.set(spec.source, captured)
    fn = captured
  }
  return fn
}

/** Wraps a source-shipped function so a ReferenceError explains the captured-variable rule. */
function withCapturedHint(fn: Function): Function {
  const hint = (err: unknown): unknown => {
    if (err instanceof ReferenceError && /is not defined/.test(err.message) && !(err as { code?: string }).code) {
      const name = /^(\S+) is not defined/.exec(err.message)?.[1] ?? 'a variable'
      const better = new ReferenceError(
        `${err.message}. Task functions are shipped by source to another thread and cannot use variables of ` +
          `their enclosing scope: pass ${name} in args, import it inside the function, or use moduleRef(url, name)`,
        { cause: err },
      ) as ReferenceError & { code: string }
      better.code = 'ERR_TASK_CAPTURED_VARIABLE'
      better.stack = `${better.name}: ${better.message}\n${(err.stack ?? '').split('\n').slice(1).join('\n')}`
      return better
    }
    return err
  }
  return function (this: unknown, ...args: unknown[]): unknown {
    let out: unknown
    try {
      out = fn.apply(this, args)
    } catch (err) {
      throw hint(err)
    }
    if (out instanceof Promise) return out.catch((err) => Promise.reject(hint(err)))
    return out
  }
}

function pick(ns: Record<string, unknown>, spec: Extract<TaskSpec, { kind: 'module' }>): Function {
  const fn = ns[spec.name] ?? (spec.name === 'default' ? undefined : (ns.default as Record<string, unknown> | undefined)?.[spec.name])
  if (typeof fn !== 'function') {
    throw new TaskModuleError(`Module ${spec.module} has no function export named "${spec.name}" (exports: ${Object.keys(ns).join(', ') || 'none'}); export it or fix the name`)
  }
  return fn
}

/**
 * Loads a task in the calling thread (compiles source once; imports modules once).
 * @throws {TaskModuleError} `ERR_TASK_MODULE_NOT_FOUND` if the module cannot be imported or lacks the export.
 * @example
 * ```ts
 * import { loadTask, moduleRef, toTaskSpec } from '@tandem/sync/task'
 *
 * const add = await loadTask(toTaskSpec((a: number, b: number) => a + b)) // what a worker does
 * console.log(add(2, 3)) // 5
 * const basename = await loadTask(toTaskSpec(moduleRef('node:path', 'basename')))
 * console.log(basename('/tmp/report.txt')) // report.txt
 * ```
 */
export async function loadTask(spec: TaskSpec): Promise<Function> {
  if (spec.kind === 'source') return compile(spec)
  const key = `${spec.module}#${spec.name}`
  let fn = loaded.get(key)
  if (fn === undefined) {
    let ns: Record<string, unknown>
    try {
      ns = await import(spec.module)
    } catch (cause) {
      throw new TaskModuleError(`Cannot import task module ${spec.module}: ${(cause as Error)?.message ?? cause}`, { cause })
    }
    fn = pick(ns, spec)
    loaded.set(key, fn)
  }
  return fn
}

/**
 * Loads a task synchronously: source is compiled; a module must have been loaded before by
 * {@link loadTask}, or is `require`d (Node >= 20.19 loads ES modules that way).
 * @example
 * ```ts
 * import { loadTaskSync, moduleRef, toTaskSpec } from '@tandem/sync/task'
 *
 * const extname = loadTaskSync(toTaskSpec(moduleRef('node:path', 'extname')))
 * console.log(extname('report.txt')) // .txt
 * ```
 */
export function loadTaskSync(spec: TaskSpec): Function {
  if (spec.kind === 'source') return compile(spec)
  const key = `${spec.module}#${spec.name}`
  let fn = loaded.get(key)
  if (fn === undefined) {
    let ns: Record<string, unknown>
    try {
      ns = requireHere(spec.module.startsWith('file:') ? fileURLToPath(spec.module) : spec.module)
    } catch (cause) {
      throw new TaskModuleError(`Cannot load task module ${spec.module}: ${(cause as Error)?.message ?? cause}`, { cause })
    }
    fn = pick(ns, spec)
    loaded.set(key, fn)
  }
  return fn
}

// ---- errors crossing threads -----------------------------------------------------------------

/**
 * An error as it crosses to another thread or process: plain data (structured-cloneable, and
 * encodable by the queue codec). A `cause` chain that loops back (`e.cause = e`, or a longer
 * cycle) is kept as a cycle: the `cause` of the last serialized error is the very
 * `SerializedError` object met before, and {@link deserializeError} rebuilds the same loop.
 */
export interface SerializedError {
  readonly name: string
  readonly message: string
  readonly stack: string | undefined
  readonly code: unknown
  readonly props: Record<string, unknown>
  readonly cause: SerializedError | undefined
  readonly thrown: unknown
  /** `AggregateError.errors` (and any `errors` array of an error), each serialized. */
  readonly errors?: SerializedError[] | undefined
}

/** Errors of one `cause`/`errors` tree serialized at most; deeper ones are cut with a marker. */
const MAX_ERRORS = 1000

/**
 * Captures an error (or any thrown value) for transfer: class name, message, stack, `code`,
 * other cloneable own properties, `errors` (AggregateError) and the `cause` chain (cycles kept).
 * Never throws: a property that cannot be read or cloned is left out.
 * @example
 * ```ts
 * import { serializeError } from '@tandem/sync/task'
 *
 * const err = Object.assign(new RangeError('too big', { cause: new Error('root') }), { code: 'ERR_X', limit: 10 })
 * const data = serializeError(err) // plain data: postMessage or structuredClone it
 * console.log(data.name, data.message, data.code, data.props, data.cause?.message) // RangeError too big ERR_X { limit: 10 } root
 * console.log(serializeError('oops').name) // NonError
 * ```
 */
export function serializeError(err: unknown): SerializedError {
  return serializeIn(err, new Map(), { count: 0 })
}

function read<T>(f: () => T, fallback: T): T {
  try {
    return f()
  } catch {
    return fallback
  }
}

function serializeIn(err: unknown, seen: Map<unknown, SerializedError>, budget: { count: number }): SerializedError {
  const prior = seen.get(err)
  if (prior !== undefined) return prior
  if (++budget.count > MAX_ERRORS) {
    return {
      name: 'Error',
      message: `[more than ${MAX_ERRORS} nested errors: the rest of the chain was cut]`,
      stack: undefined,
      code: 'ERR_ERROR_CHAIN_CUT',
      props: {},
      cause: undefined,
      thrown: undefined,
    }
  }
  if (!(err instanceof Error)) {
    let thrown: unknown
    try {
      thrown = structuredClone(err)
    } catch {
      thrown = read(() => String(err), '[unprintable value]')
    }
    const data: SerializedError = {
      name: 'NonError',
      message: read(() => String(err), '[unprintable value]'),
      stack: undefined,
      code: undefined,
      props: {},
      cause: undefined,
      thrown,
    }
    if (typeof err === 'object' && err !== null) seen.set(err, data)
    return data
  }
  const e = err as Error & Record<string, unknown>
  const props: Record<string, unknown> = {}
  for (const key of read(() => Object.keys(e), [] as string[])) {
    if (key === 'code' || key === 'cause' || (key === 'errors' && Array.isArray(e.errors))) continue
    try {
      // Own data property, also for "__proto__" (o[k] = x would set the prototype).
      Object.defineProperty(props, key, { value: structuredClone(e[key]), writable: true, enumerable: true, configurable: true })
    } catch {}
  }
  const name = read(() => e.name, 'Error')
  const ctorName = read(() => e.constructor?.name, undefined as string | undefined)
  const data = {
    // A subclass that does not set `name` inherits 'Error': its class name is the better name.
    name: typeof name === 'string' && name !== '' && name !== 'Error' ? name : typeof ctorName === 'string' && ctorName !== '' ? ctorName : 'Error',
    message: read(() => String(e.message ?? ''), ''),
    stack: read(() => (typeof e.stack === 'string' ? e.stack : undefined), undefined),
    code: undefined as unknown,
    props,
    cause: undefined as SerializedError | undefined,
    thrown: undefined,
    errors: undefined as SerializedError[] | undefined,
  }
  seen.set(err, data) // before the cause: a cycle back to this error finds it
  const code = read(() => e.code, undefined)
  try {
    data.code = structuredClone(code)
  } catch {
    data.code = read(() => String(code), undefined)
  }
  const cause = read(() => e.cause, undefined)
  if (cause !== undefined || read(() => Object.hasOwn(e, 'cause'), false)) data.cause = serializeIn(cause, seen, budget)
  const errors = read(() => e.errors, undefined)
  if (Array.isArray(errors)) data.errors = errors.map((x) => serializeIn(x, seen, budget))
  return data
}

const BUILTIN_ERRORS: Record<string, ErrorConstructor> = {
  Error,
  AggregateError: AggregateError as unknown as ErrorConstructor,
  TypeError,
  RangeError,
  ReferenceError,
  SyntaxError,
  EvalError,
  URIError,
}

/**
 * Rebuilds a serialized error: built-in classes come back as themselves; other classes as an
 * `Error` whose `name` is the original class name. The stack is the original thread's.
 */
const errorClasses = new Map<string, new (message: string) => Error>()

/**
 * Makes errors named `name` arrive from other threads as instances of `ctor` (Tandem's own
 * error classes register here; built-in classes always do). `ctor` is called with the message.
 * Register in the module that defines the class, so every thread that loads it registers it.
 * @example
 * ```ts
 * import { deserializeError, registerErrorClass, serializeError } from '@tandem/sync/task'
 *
 * class QuotaError extends Error {}
 * const before = deserializeError(structuredClone(serializeError(new QuotaError('over quota'))))
 * console.log(before instanceof QuotaError, (before as Error).name) // false QuotaError
 * registerErrorClass('QuotaError', QuotaError)
 * const after = deserializeError(structuredClone(serializeError(new QuotaError('over quota'))))
 * console.log(after instanceof QuotaError, (after as Error).message) // true over quota
 * ```
 */
export function registerErrorClass(name: string, ctor: new (message: string) => Error): void {
  errorClasses.set(name, ctor)
}

// Every error class of errors.ts (each subclass of TandemError; a class added there is
// registered without being listed here). test/error-classes.test.ts checks each package's.
for (const C of Object.values(errors)) {
  if (typeof C === 'function' && C.prototype instanceof errors.TandemError) {
    registerErrorClass(C.name, C as unknown as new (message: string) => Error)
  }
}

/**
 * Rebuilds an error from {@link serializeError}'s data, with its `cause` chain (a cycle comes back
 * as the same cycle), `errors`, `code` and other properties (an own `"__proto__"` property stays
 * an own property; the prototype is the class's).
 * @example
 * ```ts
 * import { LockNotOwnedError } from '@tandem/sync/errors'
 * import { deserializeError, serializeError } from '@tandem/sync/task'
 *
 * const sent = structuredClone(serializeError(new LockNotOwnedError('not yours'))) // as it crosses threads
 * const err = deserializeError(sent)
 * console.log(err instanceof LockNotOwnedError, (err as LockNotOwnedError).code) // true ERR_LOCK_NOT_OWNED
 * const loop = new Error('a')
 * loop.cause = loop
 * const back = deserializeError(serializeError(loop)) as Error
 * console.log(back.cause === back) // true: the cycle comes back as a cycle
 * ```
 */
export function deserializeError(data: SerializedError): unknown {
  return deserializeIn(data, new Map())
}

function deserializeIn(data: SerializedError, seen: Map<SerializedError, unknown>): unknown {
  if (seen.has(data)) return seen.get(data)
  if (data.name === 'NonError') {
    seen.set(data, data.thrown)
    return data.thrown
  }
  const Ctor = (Object.hasOwn(BUILTIN_ERRORS, data.name) ? BUILTIN_ERRORS[data.name] : errorClasses.get(data.name)) ?? Error
  let err: Error & Record<string, unknown>
  try {
    err = (Ctor === (AggregateError as unknown) ? new AggregateError([], data.message) : new Ctor(data.message)) as Error & Record<string, unknown>
  } catch {
    err = new Error(data.message) as Error & Record<string, unknown>
  }
  seen.set(data, err)
  if (err.name !== data.name) define(err, 'name', data.name, false)
  if (err.message !== data.message) define(err, 'message', data.message, false)
  const props = data.props ?? {}
  for (const key of Object.keys(props)) define(err, key, props[key], true)
  if (data.code !== undefined) define(err, 'code', data.code, true)
  // As `new Error(m, { cause })` and `new AggregateError(errors)` define them: own, not enumerable.
  if (data.cause !== undefined) define(err, 'cause', deserializeIn(data.cause, seen), false)
  if (Array.isArray(data.errors))
    define(
      err,
      'errors',
      data.errors.map((x) => deserializeIn(x, seen)),
      false,
    )
  if (data.stack !== undefined) define(err, 'stack', data.stack, false)
  return err
}

/** Defines an own data property (also "__proto__"); a property that cannot be defined is skipped. */
function define(o: object, key: string, value: unknown, enumerable: boolean): void {
  try {
    Object.defineProperty(o, key, { value, writable: true, enumerable, configurable: true })
  } catch {}
}
