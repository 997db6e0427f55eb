/**
 * `Thread`: Python's `threading.Thread` on Node's worker_threads, plus `currentThread()`,
 * `mainThread()`, `getIdent()`, `activeCount()` and `stackSize()`.
 *
 * Each Thread runs in its own worker: real parallelism, no shared JavaScript heap. The target
 * (a task function shipped by source, or a module reference) and its `args` cross with the
 * shareable protocol, so Tandem primitives in `args` arrive as live handles on the same state.
 * A subclass overriding `run()` is imported by the worker from the module named by its static
 * `module` field, and its own enumerable fields are sent along.
 *
 * Liveness and join use a per-thread control word in shared memory (layout in
 * `internal/process-state.ts`), so a blocking `join()` works on any thread, main included.
 *
 * @module
 */
import type { Worker, WorkerOptions } from 'node:worker_threads'
import { existsSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { ThreadStateError, TaskModuleError, typeError } from './errors.ts'
import { SELF } from './internal/ident.ts'
import { arenaBuffer } from './internal/arena.ts'
import { spawnWorker, WORKER_OPTIONS } from './internal/spawn.ts'
import { ACTIVE, boot, BOOT_KEY, EXIT_PRELUDE, FINISHED, markFinished, NEXT_NAME, processState, RUNNING, STATE, type BootData } from './internal/process-state.ts'
import { asyncOptions, checkHeapLimits, checkStackSize, checkTimeout, describe, type AsyncWaitOptions } from './internal/validate.ts'
import { hasEnded, markEnded, SLICE_MS, sweep } from './internal/liveness.ts'
import { ABORTED, deadlineOf, op, remaining, runAsync, runBlocking, type Waiter } from './internal/wait.ts'
import { knownModules } from './shareable.ts'
import { describeRun, type RunDescription } from './internal/run-target.ts'
import { sabSnapshot } from './internal/sab-registry.ts'
import { deserializeError, toTaskSpec, type SerializedError, type TaskFunction, type TaskSpec } from './task.ts'

/** Options of `new Thread()`. */
export interface ThreadOptions<A extends unknown[] = unknown[]> {
  /** What the thread runs: a self-contained function (shipped by source) or a `moduleRef`. */
  target?: TaskFunction<A, unknown>
  /** Arguments for `target`; Tandem shareables arrive as live handles, the rest is cloned. */
  args?: A
  /** Thread name. @default `Thread-N` (`Thread-N (targetName)` with a named target) */
  name?: string
  /** A daemon thread does not keep the process alive. @default the creating thread's `daemon` */
  daemon?: boolean
  /** Usable stack size in KiB (128 to 1,048,576 = 1 GiB); 0 means Node's default (about 4 MiB). @default the value set by {@link stackSize} */
  stackSize?: number
  /**
   * Heap limits of the worker (Node's `resourceLimits` without `stackSizeMb`, which
   * `stackSize` sets). A worker over its heap limit is terminated: its exit handlers do not run
   * and the exception hook does not see it (a Node extension; Python has no equivalent).
   */
  resourceLimits?: HeapLimits
}

/** Heap limits of a worker thread, in MB (see Node's `Worker` `resourceLimits`). */
export interface HeapLimits {
  maxOldGenerationSizeMb?: number
  maxYoungGenerationSizeMb?: number
  codeRangeSizeMb?: number
}

/** What {@link Thread.excepthook} receives, like Python's `threading.ExceptHookArgs`. */
export interface ExceptHookArgs {
  /** Class name of the error (`'TypeError'`, a custom class name, or `'NonError'`). */
  readonly excType: string
  /** The error, rebuilt in the thread that runs the hook (its stack is the worker's). */
  readonly excValue: unknown
  /** The thread whose target threw. */
  readonly thread: Thread
}

// MIN_STACK_KIB (internal/validate.ts): the smallest stack with which a worker can still start
// (and, under tsx, compile its sources); Python's floor is 32 KiB, a Node worker needs more.

/** Node keeps this much of a worker's stack (`kStackBufferSize` in node_worker.cc) away from V8. */
const NODE_STACK_RESERVE_KIB = 192

let defaultStackKiB = 0
let constructing: { name: string; ident: number; daemon: boolean; alive: boolean } | undefined

const BOOT_URL = new URL(`./internal/worker-main${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url)

function defaultExcepthook(args: ExceptHookArgs): void {
  const err = args.excValue
  const text = err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : `${args.excType}: ${String(err)}`
  process.stderr.write(`Exception in thread ${args.thread.name}:\n${text}\n`)
}

/**
 * A thread of control running in its own worker thread.
 *
 * - `start()` launches the worker; `join()` (blocking) or `joinAsync()` waits for the target to
 *   finish. Output of `console.log` in Tandem threads goes straight to the process's stdout, in
 *   the order it was written.
 * - An error escaping the target is passed to {@link Thread.excepthook} (which prints
 *   `Exception in thread NAME:` and the stack to stderr) and does not crash the process; `join`
 *   returns normally.
 * - A worker that dies without running its exit handlers (out of memory under `resourceLimits`,
 *   terminated from outside) is seen as finished within about two 200 ms slices, by a blocking
 *   `join()` too, even one on the thread that started it (on Linux, where waiters look for dead
 *   threads in `/proc`; elsewhere only once the starting thread's event loop gets the worker's
 *   `exit` event: use `joinAsync()` there).
 * - A daemon thread is not waited for when the process exits; a non-daemon thread keeps it
 *   alive until it finishes.
 * - Memory: actions in the thread happen-before the return of a `join()` that sees it finish.
 *
 * @example A target function, and a subclass overriding `run()` (the worker imports the
 * subclass from its `module`, so export it and keep process-level code under
 * `if (isMainThread)`):
 * ```ts
 * import { isMainThread } from 'node:worker_threads'
 * import { Thread } from '@tandem/sync/thread'
 *
 * export class Greeter extends Thread {
 *   static override module = import.meta.url
 *   readonly who: string // own fields are sent to the worker
 *   constructor(who: string) {
 *     super({ name: 'greeter' })
 *     this.who = who
 *   }
 *   override run(): void {
 *     console.log(`hello ${this.who}`)
 *   }
 * }
 *
 * if (isMainThread) {
 *   const t = new Thread({ target: (n: number) => console.log('got', n), args: [42], name: 'doubler' })
 *   t.start()
 *   console.log(t.join(), t.isAlive(), t.name) // got 42, then: true false doubler
 *   const g = new Greeter('world')
 *   g.start()
 *   g.join() // hello world
 * }
 * ```
 */
export class Thread {
  /**
   * Called with the details of an error that escaped a thread's target. Assign your own in the
   * thread that starts the threads; it runs there (after the error is sent over), while the
   * default hook prints synchronously from the failing thread itself.
   */
  static excepthook: (args: ExceptHookArgs) => void = defaultExcepthook
  /**
   * Module URL a subclass that overrides `run()` must declare (`static module = import.meta.url`)
   * so its worker can import it; the class must be exported under its own name.
   */
  static module: string | URL | undefined = undefined

  #name: string
  #daemon: boolean
  #ident: number | undefined
  #target: TaskFunction | undefined
  #targetSpec: TaskSpec | undefined
  #args: unknown[]
  #stackKiB: number
  #limits: HeapLimits | undefined
  #control: Int32Array
  #started = false
  #isCurrent = false

  /**
   * @param opts target, args, name, daemon, stackSize
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for a non-callable target or non-array args
   * @throws {TaskModuleError} `ERR_TASK_MODULE_NOT_FOUND` for a module reference to a missing file
   */
  constructor(opts: ThreadOptions<any[]> = {}) {
    this.#control = new Int32Array(new SharedArrayBuffer(4))
    this.#args = []
    this.#stackKiB = 0
    if (constructing !== undefined) {
      this.#name = constructing.name
      this.#ident = constructing.ident
      this.#daemon = constructing.daemon
      this.#started = true
      this.#isCurrent = true
      if (constructing.alive) this.#control[STATE] = RUNNING
      return
    }
    if (typeof opts !== 'object' || opts === null) throw typeError(`new Thread(opts): opts must be an object; received ${describe(opts)}`)
    const { target, args = [], name, daemon, stackSize: stack, resourceLimits } = opts
    if (target !== undefined) {
      this.#targetSpec = toTaskSpec(target, 'Thread target')
      if (this.#targetSpec.kind === 'module') checkModuleFile(this.#targetSpec.module)
      this.#target = target
    }
    if (!Array.isArray(args)) throw typeError(`new Thread(): args must be an array; received ${describe(args)}`)
    this.#args = args
    if (name !== undefined && typeof name !== 'string') throw typeError(`new Thread(): name must be a string; received ${describe(name)}`)
    const n = Atomics.add(processState, NEXT_NAME, 1) + 1
    const targetName = typeof target === 'function' ? target.name : this.#targetSpec?.name
    this.#name = name ?? (targetName ? `Thread-${n} (${targetName})` : `Thread-${n}`)
    if (daemon !== undefined && typeof daemon !== 'boolean') throw typeError(`new Thread(): daemon must be a boolean; received ${describe(daemon)}`)
    this.#daemon = daemon ?? currentThread().daemon
    this.#stackKiB = stack === undefined ? defaultStackKiB : checkStack(stack)
    this.#limits = checkLimits(resourceLimits)
    this.#workerOptions = (opts as Record<symbol, WorkerOptions | undefined>)[WORKER_OPTIONS]
  }

  /** Extra options for the worker (internal: `WORKER_OPTIONS` in the kit). */
  #workerOptions: WorkerOptions | undefined

  /** The thread's name (any string; not necessarily unique). */
  get name(): string {
    return this.#name
  }
  set name(value: string) {
    if (typeof value !== 'string') throw typeError(`Thread.name must be a string; received ${describe(value)}`)
    this.#name = value
  }

  /** Identifier of the thread (nonzero), or undefined before `start()`; same as `getIdent()` inside it. */
  get ident(): number | undefined {
    return this.#ident
  }

  /** Same as {@link ident} (Node has no separate native id). */
  get nativeId(): number | undefined {
    return this.#ident
  }

  /** Whether the thread is a daemon; settable only before `start()`. */
  get daemon(): boolean {
    return this.#daemon
  }
  set daemon(value: boolean) {
    if (this.#started) throw new ThreadStateError('Thread.daemon cannot be changed after start()')
    if (typeof value !== 'boolean') throw typeError(`Thread.daemon must be a boolean; received ${describe(value)}`)
    this.#daemon = value
  }

  /**
   * The thread's activity. The default calls `target(...args)`; subclasses override it (and
   * declare `static module = import.meta.url`). Runs in the worker; may be async.
   */
  run(): unknown {
    if (this.#target === undefined) return undefined
    return (this.#target as (...a: unknown[]) => unknown)(...this.#args)
  }

  /**
   * Starts the thread in a new worker.
   * @throws {ThreadStateError} `ERR_THREAD_STATE` if called more than once
   * @throws {TypeError} `ERR_NOT_SHAREABLE` if args (or subclass fields) hold a function or another value that cannot cross
   */
  start(): void {
    if (this.#started) throw new ThreadStateError(`Thread.start(): ${this.#name} was already started; threads can only be started once`)
    const run = this.#runDescription()
    const data: BootData = {
      global: processState,
      arena: arenaBuffer(),
      control: this.#control,
      name: this.#name,
      ident: 0,
      daemon: this.#daemon,
      mainName: mainThread().name,
      parentHook: Thread.excepthook !== defaultExcepthook,
      kinds: preloadableKinds(),
      sabs: sabSnapshot(),
      run,
    }
    let worker: Worker
    try {
      worker = spawnWorker(
        BOOT_URL,
        {
          workerData: { [BOOT_KEY]: data },
          name: this.#name,
          resourceLimits: this.#stackKiB > 0 ? { ...this.#limits, stackSizeMb: (this.#stackKiB + NODE_STACK_RESERVE_KIB) / 1024 } : this.#limits,
          ...this.#workerOptions,
        },
        EXIT_PRELUDE,
      )
    } catch (err) {
      if ((err as Error).name === 'DataCloneError') {
        throw typeError(
          `Thread.start(): the args of ${this.#name} cannot be sent to a worker (${(err as Error).message}); pass cloneable data or Tandem shareables`,
          'ERR_NOT_SHAREABLE',
        )
      }
      throw err
    }
    this.#started = true
    this.#ident = worker.threadId + 1
    // RUNNING before the worker can finish; counted as active from now on, like Python after start().
    Atomics.store(this.#control, STATE, RUNNING)
    Atomics.add(processState, ACTIVE, 1)
    worker.on('message', (msg: { type?: string; error?: SerializedError }) => {
      if (msg?.type === 'tandem.excepthook' && msg.error) this.#reportError(deserializeError(msg.error), msg.error.name)
    })
    worker.on('error', (err) => {
      // Errors outside the target (bootstrap failure, out of memory) land here.
      this.#reportError(err, (err as Error)?.name ?? 'Error')
    })
    worker.on('exit', () => {
      markEnded(this.#ident!)
      markFinished(this.#control)
    })
    if (this.#daemon) worker.unref()
  }

  #reportError(err: unknown, excType: string): void {
    try {
      Thread.excepthook({ excType, excValue: err, thread: this })
    } catch (hookErr) {
      process.stderr.write(`Exception in Thread.excepthook:\n${(hookErr as Error)?.stack ?? hookErr}\n`)
    }
  }

  #runDescription(): RunDescription {
    const run = describeRun(this, Thread, this.#targetSpec, this.#args, 'thread')
    if (run.kind === 'subclass') checkModuleFile(run.module)
    return run
  }

  *#joinGen(deadline: number): Waiter<boolean> {
    const c = this.#control
    const w = op(c, STATE, RUNNING, Infinity)
    while (Atomics.load(c, STATE) === RUNNING) {
      // A worker that is terminated or runs out of memory marks nothing itself, and its `exit`
      // event needs the starting thread's event loop, which may be the one blocked here: wake
      // every slice and ask the liveness table.
      const token = this.#ident ?? 0
      if (hasEnded(token) || (sweep() && hasEnded(token))) {
        markFinished(c)
        break
      }
      const t = remaining(deadline)
      if (t === 0) return false
      w.timeout = Math.min(t, SLICE_MS)
      if ((yield w) === 'aborted') throw ABORTED
    }
    return true
  }

  #checkJoin(what: string): void {
    if (!this.#started) throw new ThreadStateError(`Thread.${what}(): cannot join ${this.#name} before it is started`)
    if (this.#isCurrent || this.#ident === SELF) throw new ThreadStateError(`Thread.${what}(): a thread cannot join itself (deadlock)`)
  }

  /**
   * Blocks until the thread's target finishes or the timeout expires.
   * @param timeout ms; omitted or Infinity waits forever
   * @returns true if the thread has finished (like checking `!isAlive()` after Python's join)
   * @throws {ThreadStateError} `ERR_THREAD_STATE` before `start()` or on the current thread
   */
  join(timeout?: number): boolean {
    const ms = checkTimeout(timeout)
    this.#checkJoin('join')
    if (Atomics.load(this.#control, STATE) === FINISHED) return true
    return runBlocking(this.#joinGen(deadlineOf(ms)))
  }

  /**
   * Async form of {@link join}; also notices a worker that crashed or was terminated.
   * @param opts timeout in ms, or `{ timeout?, signal? }`
   */
  async joinAsync(opts?: number | AsyncWaitOptions): Promise<boolean> {
    const { timeout, signal } = asyncOptions(opts)
    this.#checkJoin('joinAsync')
    return runAsync(this.#joinGen(deadlineOf(timeout)), signal)
  }

  /** @internal Resolves when the thread has finished, without keeping the event loop alive. */
  _finished(): Promise<boolean> {
    return runAsync(this.#joinGen(Infinity), undefined, false)
  }

  /** True from `start()` until the target finishes. */
  isAlive(): boolean {
    return Atomics.load(this.#control, STATE) === RUNNING
  }

  toString(): string {
    const state = !this.#started ? 'initial' : this.isAlive() ? 'started' : 'stopped'
    return `<Thread(${this.#name}, ${state}${this.#daemon ? ' daemon' : ''}${this.#ident !== undefined ? ` ${this.#ident}` : ''})>`
  }

  /** @internal Builds the Thread object describing an already-running thread. */
  static _describe<T extends Thread>(cls: new (opts?: ThreadOptions) => T, info: { name: string; ident: number; daemon: boolean; alive: boolean }): T {
    constructing = info
    try {
      return Reflect.construct(Thread, [], cls) as T
    } finally {
      constructing = undefined
    }
  }

  /** @internal The control block, for the worker bootstrap. */
  static _control(t: Thread): Int32Array {
    return t.#control
  }
}

/** Kind modules the worker should preload: all the parent knows, except its main script. */
function preloadableKinds(): string[] {
  const entry = process.argv[1] ? pathToFileURL(process.argv[1]).href : undefined
  return knownModules().filter((m) => m !== entry)
}

function checkStack(kib: unknown): number {
  return checkStackSize(kib, 'stackSize')
}

function checkModuleFile(url: string): void {
  if (!url.startsWith('file:')) return
  const path = fileURLToPath(url)
  if (!existsSync(path))
    throw new TaskModuleError(`Cannot find module ${path} named by the module reference; check the path (relative paths resolve against the working directory)`)
}

function checkLimits(limits: HeapLimits | undefined): HeapLimits | undefined {
  return checkHeapLimits(limits, 'new Thread()')
}

/**
 * Gets or sets the stack size (KiB) of threads created afterwards, like Python's
 * `threading.stack_size()` (which takes bytes).
 * @param kib new size: 0 for Node's default, else 128 to 1,048,576 (1 GiB)
 * @returns the previous setting
 * @throws {RangeError} `ERR_OUT_OF_RANGE` for a size between 1 and 127, above 1 GiB or a non-integer
 * @example
 * ```ts
 * import { stackSize, Thread } from '@tandem/sync/thread'
 *
 * console.log(stackSize(16 * 1024)) // 0: Node's default so far
 * const deep = () => {
 *   const depth = (n: number): number => (n === 0 ? 0 : 1 + depth(n - 1))
 *   console.log(depth(100_000))
 * }
 * const t = new Thread({ target: deep }) // created now: gets a 16 MiB stack
 * t.start()
 * t.join() // 100000
 * console.log(stackSize(0)) // 16384
 * try {
 *   stackSize(64) // too small for a Node worker
 * } catch (err) {
 *   console.log((err as RangeError & { code: string }).code) // ERR_OUT_OF_RANGE
 * }
 * ```
 */
export function stackSize(kib?: number): number {
  const prev = defaultStackKiB
  if (kib !== undefined) defaultStackKiB = checkStack(kib)
  return prev
}

let main: Thread | undefined
let current: Thread | undefined

/**
 * The main thread's Thread object (in a worker: a description of it).
 * @example
 * ```ts
 * import { currentThread, mainThread, Thread } from '@tandem/sync/thread'
 *
 * console.log(mainThread().name, mainThread().ident, currentThread() === mainThread()) // MainThread 1 true
 * const t = new Thread({
 *   target: async () => {
 *     const { mainThread } = await import('@tandem/sync/thread')
 *     console.log(mainThread().name) // MainThread
 *   },
 * })
 * t.start()
 * t.join()
 * ```
 */
export function mainThread(): Thread {
  main ??= Thread._describe(Thread, { name: boot?.mainName ?? 'MainThread', ident: 1, daemon: false, alive: true })
  return main
}

/**
 * The Thread object of the calling thread.
 * @example
 * ```ts
 * import { currentThread, Thread } from '@tandem/sync/thread'
 *
 * console.log(currentThread().name) // MainThread
 * const t = new Thread({
 *   name: 'fetcher',
 *   target: async () => {
 *     const { currentThread } = await import('@tandem/sync/thread')
 *     console.log(currentThread().name) // fetcher
 *   },
 * })
 * t.start()
 * t.join()
 * ```
 */
export function currentThread(): Thread {
  if (current === undefined) {
    if (SELF === 1) current = mainThread()
    else if (boot === undefined) current = Thread._describe(Thread, { name: `Dummy-${SELF}`, ident: SELF, daemon: true, alive: true })
    else current = Thread._describe(Thread, { name: boot.name, ident: SELF, daemon: boot.daemon, alive: true })
  }
  return current
}

/** @internal Installs the calling thread's Thread object (worker bootstrap). */
export function _setCurrentThread(t: Thread): void {
  current = t
}

/**
 * Identifier of the calling thread: nonzero, unique among live threads of the process.
 * @example
 * ```ts
 * import { getIdent, Thread } from '@tandem/sync/thread'
 *
 * console.log(getIdent()) // 1 on the main thread
 * const t = new Thread({
 *   target: async (parent: number) => {
 *     const { getIdent } = await import('@tandem/sync/thread')
 *     console.log(getIdent() !== parent) // true
 *   },
 *   args: [getIdent()],
 * })
 * t.start()
 * t.join()
 * console.log(t.ident !== undefined && t.ident !== getIdent()) // true: Thread.ident is the thread's getIdent()
 * ```
 */
export function getIdent(): number {
  return SELF
}

/**
 * Number of live threads: the main thread plus every Tandem Thread started and not finished.
 * @example
 * ```ts
 * import { Event } from '@tandem/sync/event'
 * import { activeCount, Thread } from '@tandem/sync/thread'
 *
 * console.log(activeCount()) // 1: the main thread
 * const go = new Event()
 * const t = new Thread({ target: (go: Event) => void go.wait(), args: [go] })
 * t.start()
 * console.log(activeCount()) // 2: counted from start()
 * go.set()
 * t.join()
 * console.log(activeCount()) // 1
 * ```
 */
export function activeCount(): number {
  return 1 + Atomics.load(processState, ACTIVE)
}
