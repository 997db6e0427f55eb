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
 * @example
 * ```ts
 * const fib = moduleRef<typeof import('./fib.ts').fib>(new URL('./fib.ts', import.meta.url), 'fib')
 * ```
 */
export function moduleRef<F extends (...args: any[]) => unknown = (...args: any[]) => unknown>(
  module: string | URL,
  name = 'default',
): ModuleRef<F> {
  if (typeof name !== 'string') throw typeError(`moduleRef(): the export name must be a string; received ${describe(name)}`)
  return { [MODULE_REF]: true, module: resolveModule(module), name }
}

/** True if `value` came from {@link moduleRef}. */
export function isModuleRef(value: unknown): value is ModuleRef {
  return typeof value === 'object' && value !== null && (value as ModuleRef)[MODULE_REF] === true
}

/** Resolves a module specifier to an absolute URL where possible. */
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
export type TaskSpec =
  | { readonly kind: 'source'; readonly source: string; readonly name: string }
  | { readonly kind: 'module'; readonly module: string; readonly name: string }

const specCache = new WeakMap<Function, TaskSpec>()
const specByText = new Map<string, TaskSpec>()

/**
 * Turns a task function or module reference into a {@link TaskSpec}.
 * @param what names the parameter in error messages (`'Thread target'`, `'fn'`)
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for a non-callable, a class, a bound or native function.
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
      `The ${what} (${fn.name || 'anonymous'}) has no shippable source (bound or native function?); ` +
        'pass a plain self-contained function or a moduleRef(url, name)',
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

// Under tsx (esbuild keepNames) shipped source may call `__name(fn, "name")`, a helper that only
// exists in the sender's module scope. Compiled tasks get a local one.
function __name<T>(target: T, value: string): T {
  try {
    Object.defineProperty(target, 'name', { value, configurable: true })
  } catch {}
  return target
}

const compiled = new Map<string, Function>()
const loaded = new Map<string, Function>()
const requireHere = createRequire(import.meta.url)

function compile(spec: Extract<TaskSpec, { kind: 'source' }>): Function {
  let fn = compiled.get(spec.source)
  if (fn === undefined) {
    fn = new Function('__name', `return (${spec.source}\n)`)(__name) as Function
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
    throw new TaskModuleError(
      `Module ${spec.module} has no function export named "${spec.name}" (exports: ${Object.keys(ns).join(', ') || 'none'}); export it or fix the name`,
    )
  }
  return fn
}

/**
 * Loads a task in the calling thread (compiles source once; imports modules once).
 * @throws {TaskModuleError} `ERR_TASK_MODULE_NOT_FOUND` if the module cannot be imported or lacks the export.
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

/** An error as it crosses to another thread or process. */
export interface SerializedError {
  readonly name: string
  readonly message: string
  readonly stack: string | undefined
  readonly code: unknown
  readonly props: Record<string, unknown>
  readonly cause: SerializedError | undefined
  readonly thrown: unknown
}

/**
 * Captures an error (or any thrown value) for transfer: class name, message, stack, `code`,
 * other cloneable own properties and the `cause` chain.
 */
export function serializeError(err: unknown): SerializedError {
  if (!(err instanceof Error)) {
    let thrown: unknown
    try {
      thrown = structuredClone(err)
    } catch {
      thrown = String(err)
    }
    return { name: 'NonError', message: String(err), stack: undefined, code: undefined, props: {}, cause: undefined, thrown }
  }
  const props: Record<string, unknown> = {}
  for (const key of Object.keys(err)) {
    if (key === 'code' || key === 'cause') continue
    try {
      props[key] = structuredClone((err as unknown as Record<string, unknown>)[key])
    } catch {}
  }
  return {
    // A subclass that does not set `name` inherits 'Error': its class name is the better name.
    name: err.name && err.name !== 'Error' ? err.name : err.constructor?.name || 'Error',
    message: err.message,
    stack: err.stack,
    code: (err as { code?: unknown }).code,
    props,
    cause: err.cause === undefined ? undefined : serializeError(err.cause),
    thrown: undefined,
  }
}

const BUILTIN_ERRORS: Record<string, ErrorConstructor> = {
  Error,
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
 */
export function registerErrorClass(name: string, ctor: new (message: string) => Error): void {
  errorClasses.set(name, ctor)
}

for (const C of [
  errors.LockNotOwnedError,
  errors.DeadlockError,
  errors.BrokenBarrierError,
  errors.TooManyWaitersError,
  errors.InternalStateError,
  errors.ThreadStateError,
  errors.TaskModuleError,
  errors.TimeoutError,
]) {
  registerErrorClass(C.name, C as new (message: string) => Error)
}

export function deserializeError(data: SerializedError): unknown {
  if (data.name === 'NonError') return data.thrown
  const Ctor = (BUILTIN_ERRORS[data.name] ?? errorClasses.get(data.name) ?? Error) as ErrorConstructor
  const err = new Ctor(data.message) as Error & Record<string, unknown>
  if (Ctor === Error && data.name !== 'Error') Object.defineProperty(err, 'name', { value: data.name, configurable: true, writable: true })
  Object.assign(err, data.props)
  if (data.code !== undefined) err.code = data.code
  if (data.cause !== undefined) err.cause = deserializeError(data.cause)
  if (data.stack !== undefined) err.stack = data.stack
  return err
}
