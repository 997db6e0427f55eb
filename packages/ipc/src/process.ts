/**
 * `Process`: Python's `multiprocessing.Process` (spawn start method) on `child_process`, plus
 * `currentProcess()`, `parentProcess()`, `activeChildren()` and `cpuCount()`.
 *
 * `start()` asks this process's I/O thread (`internal/hub.ts`) to spawn `node` on
 * `internal/child-main`, with the same loader flags as this process (so a `.ts` target module
 * loads under tsx) and a socket pair on descriptor 3. The first frame on it carries the child's
 * boot record: name, daemon flag, target (a task function shipped by source, or a module
 * reference; or the subclass to import, with its own fields) and its args, encoded for a process
 * (connections and process queues inside arrive as working handles). The I/O thread records the
 * pid and, from the child's `exit` event, the exit code in the process's control block
 * (`internal/process-control.ts`), so `join()` works from any thread, blocking or async.
 *
 * @module
 */
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import { serialize } from 'node:v8'
import { codedError, typeError } from '@tandem/sync/errors'
import {
  ABORTED,
  newCell,
  shareCell,
  asyncOptions,
  deadlineOf,
  describe,
  checkTimeout,
  IPC_NEXT_PROCESS,
  op,
  processState,
  remaining,
  runAsync,
  runBlocking,
  type AsyncWaitOptions,
  type Waiter,
  describeRun,
  type RunDescription,
} from '@tandem/sync/kit'
import { toTaskSpec, type TaskFunction, type TaskSpec } from '@tandem/sync/task'
import { ProcessStateError } from './errors.ts'
import { hub, withExports } from './internal/hub-client.ts'
import { CONTROL_EXIT, CONTROL_PID, CONTROL_STATE, CONTROL_WORDS, ENDED, NEW, RUNNING, SPAWN_FAILED, STARTING } from './internal/process-control.ts'
import { childExecArgv, processInfo, type ProcessInfo } from './internal/process-info.ts'

/** Options of `new Process()`. */
export interface ProcessOptions<A extends unknown[] = unknown[]> {
  /** What the process runs: a self-contained function (shipped by source) or a `moduleRef`. */
  target?: TaskFunction<A, unknown>
  /** Arguments for `target`, structured-cloned; connections and process queues arrive as working handles. */
  args?: A
  /** Process name. @default `Process-N` (`Process-1:N` in a child named Process-1) */
  name?: string
  /** A daemon child is ended when its parent exits; a non-daemon one is waited for. @default the current process's `daemon` */
  daemon?: boolean
}

const ENTRY = new URL(`./internal/child-main${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url)

let describing: { info: ProcessInfo; pid: number } | undefined
const children = new Set<Process>()

/**
 * A process of its own, running `target(...args)` (or a subclass's `run()`) in a new Node process.
 *
 * - `start()`, then `join(timeout?)` (blocking; true once it ended) or `joinAsync()`;
 *   `isAlive()`, `pid`, `exitCode` (`null` while it runs; 0; 1 after an uncaught error, printed
 *   under `Process NAME:` on stderr; n after `process.exit(n)`; -SIGNUM after a signal),
 *   `terminate()` (SIGTERM), `kill()` (SIGKILL), `close()`.
 * - The child shares this process's stdout and stderr; its stdin is empty.
 * - A child whose parent dies, in any way, exits within about a second; daemon children end when
 *   their parent exits; the parent's exit waits for the others (as Python's does).
 * - A subclass overriding `run()` declares `static module = import.meta.url` and is exported under
 *   its own name (the child imports it); its own fields are sent along. Keep process-level code of
 *   that module under a guard (`if (currentProcess().name === 'MainProcess')`).
 *
 * @example A child that answers over a pipe
 * ```ts
 * import { Pipe } from '@tandem/ipc/pipe'
 * import { Process } from '@tandem/ipc/process'
 *
 * const [parentEnd, childEnd] = Pipe()
 * const p = new Process({
 *   target: async (conn: typeof childEnd, who: string) => {
 *     const { currentProcess } = await import('@tandem/ipc/process')
 *     conn.send(`hello ${who} from ${currentProcess().name}`)
 *   },
 *   args: [childEnd, 'parent'],
 * })
 * p.start()
 * console.log(parentEnd.recv()) // hello parent from Process-1
 * p.join()
 * console.log(p.exitCode, p.isAlive()) // 0 false
 * ```
 */
export class Process {
  /** Module URL a subclass that overrides `run()` must declare (`static module = import.meta.url`). */
  static module: string | URL | undefined = undefined

  #name: string
  #daemon: boolean
  #target: TaskFunction | undefined
  #targetSpec: TaskSpec | undefined
  #args: unknown[] = []
  #identity: number[]
  readonly #control: Int32Array
  #closed = false
  #describes: boolean

  /**
   * @param opts target, args, name, daemon
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for a non-callable target or non-array args
   */
  constructor(opts: ProcessOptions<any[]> = {}) {
    this.#control = newCell(this, CONTROL_WORDS)
    if (describing !== undefined) {
      const { info, pid } = describing
      this.#name = info.name
      this.#daemon = info.daemon
      this.#identity = info.identity
      this.#describes = true
      this.#control[CONTROL_STATE] = RUNNING
      this.#control[CONTROL_PID] = pid
      return
    }
    this.#describes = false
    if (typeof opts !== 'object' || opts === null) throw typeError(`new Process(opts): opts must be an object; received ${describe(opts)}`)
    const { target, args = [], name, daemon } = opts
    if (target !== undefined) {
      this.#targetSpec = toTaskSpec(target, 'Process target')
      this.#target = target
    }
    if (!Array.isArray(args)) throw typeError(`new Process(): args must be an array; received ${describe(args)}`)
    this.#args = args
    if (name !== undefined && typeof name !== 'string') throw typeError(`new Process(): name must be a string; received ${describe(name)}`)
    if (daemon !== undefined && typeof daemon !== 'boolean') throw typeError(`new Process(): daemon must be a boolean; received ${describe(daemon)}`)
    const me = processInfo()
    this.#identity = [...me.identity, Atomics.add(processState, IPC_NEXT_PROCESS, 1) + 1]
    this.#name = name ?? `${new.target === Process ? 'Process' : new.target.name}-${this.#identity.join(':')}`
    this.#daemon = daemon ?? me.daemon
  }

  /** The process's name (any string). */
  get name(): string {
    return this.#name
  }
  set name(value: string) {
    if (typeof value !== 'string') throw typeError(`Process.name must be a string; received ${describe(value)}`)
    this.#name = value
  }

  /** Whether the process is a daemon; settable only before `start()`. */
  get daemon(): boolean {
    return this.#daemon
  }
  set daemon(value: boolean) {
    if (this.#state() !== NEW) throw new ProcessStateError('Process.daemon cannot be changed after start()')
    if (typeof value !== 'boolean') throw typeError(`Process.daemon must be a boolean; received ${describe(value)}`)
    this.#daemon = value
  }

  #state(): number {
    return Atomics.load(this.#control, CONTROL_STATE)
  }

  /** The child's process id, or null before `start()`. */
  get pid(): number | null {
    const s = this.#state()
    return s === RUNNING || s === ENDED ? Atomics.load(this.#control, CONTROL_PID) : null
  }

  /** Same as {@link pid}. */
  get ident(): number | null {
    return this.pid
  }

  /** null before start and while running; then 0, 1 (uncaught error), n (`process.exit(n)`) or -SIGNUM. */
  get exitCode(): number | null {
    this.#checkOpen('exitCode')
    const s = this.#state()
    return s === ENDED || s === SPAWN_FAILED ? Atomics.load(this.#control, CONTROL_EXIT) : null
  }

  /** The process's activity: calls `target(...args)`. Subclasses override it (it runs in the child). */
  run(): unknown {
    if (this.#target === undefined) return undefined
    return (this.#target as (...a: unknown[]) => unknown)(...this.#args)
  }

  #checkOpen(what: string): void {
    if (this.#closed) throw new ProcessStateError(`Process.${what}: ${this.#name} was closed`)
  }

  /**
   * Starts the child process.
   * @throws {ProcessStateError} `ERR_PROCESS_STATE` if already started or closed
   * @throws {TypeError} `ERR_NOT_SHAREABLE` if args hold a function or a shared-memory object
   */
  start(): void {
    this.#checkOpen('start()')
    if (this.#describes || this.#state() !== NEW) throw new ProcessStateError(`Process.start(): ${this.#name} was already started; a process can only be started once`)
    const me = processInfo()
    // The ends exported while the args are encoded belong to the child (see withExports).
    const { value: run, exports } = withExports(() => this.#runDescription())
    const info: ProcessInfo = { name: this.#name, daemon: this.#daemon, identity: this.#identity, pid: 0, parentPid: process.pid, parentName: me.name }
    let boot: Uint8Array
    try {
      boot = serialize({ info, run })
    } catch (err) {
      throw typeError(
        `Process.start(): the args of ${this.#name} cannot be sent to a process (${(err as Error).message}); pass cloneable data, connections or process queues`,
        'ERR_NOT_SHAREABLE',
      )
    }
    Atomics.store(this.#control, CONTROL_STATE, STARTING)
    hub().put({
      op: 'spawn',
      control: shareCell(this.#control),
      boot,
      daemon: this.#daemon,
      name: this.#name,
      execArgv: childExecArgv(ENTRY),
      entry: fileURLToPath(ENTRY),
      exports,
    })
    // The I/O thread answers within milliseconds (fork and exec).
    while (this.#state() === STARTING) Atomics.wait(this.#control, CONTROL_STATE, STARTING, 1000)
    if (this.#state() === SPAWN_FAILED) throw codedError(`Process.start(): ${this.#name} could not be started (see stderr)`, 'ERR_PROCESS_SPAWN')
    children.add(this)
  }

  #runDescription(): RunDescription {
    return describeRun(this, Process, this.#targetSpec, this.#args, 'process')
  }

  *#joinGen(deadline: number): Waiter<boolean> {
    const c = this.#control
    const w = op(c, CONTROL_STATE, RUNNING, Infinity)
    while (Atomics.load(c, CONTROL_STATE) === RUNNING) {
      const t = remaining(deadline)
      if (t === 0) return false
      w.timeout = t
      if ((yield w) === 'aborted') throw ABORTED
    }
    return true
  }

  #checkJoin(what: string): void {
    this.#checkOpen(`${what}()`)
    if (this.#describes) throw new ProcessStateError(`Process.${what}(): can only join a child process this process started`)
    if (this.#state() === NEW) throw new ProcessStateError(`Process.${what}(): cannot join ${this.#name} before it is started`)
  }

  /**
   * Waits until the process ends or the timeout expires.
   * @param timeout ms; omitted or Infinity waits forever
   * @returns true if the process has ended
   * @throws {ProcessStateError} `ERR_PROCESS_STATE` before `start()`
   */
  join(timeout?: number): boolean {
    const ms = checkTimeout(timeout)
    this.#checkJoin('join')
    const done = Atomics.load(this.#control, CONTROL_STATE) !== RUNNING || runBlocking(this.#joinGen(deadlineOf(ms)))
    if (done) children.delete(this)
    return done
  }

  /** Async form of {@link join}: a timeout in ms or `{ timeout?, signal? }`. */
  async joinAsync(opts?: number | AsyncWaitOptions): Promise<boolean> {
    const { timeout, signal } = asyncOptions(opts)
    this.#checkJoin('joinAsync')
    const done = await runAsync(this.#joinGen(deadlineOf(timeout)), signal)
    if (done) children.delete(this)
    return done
  }

  /** True from `start()` until the process ends. */
  isAlive(): boolean {
    this.#checkOpen('isAlive()')
    if (this.#describes) return probe(Atomics.load(this.#control, CONTROL_PID))
    return this.#state() === RUNNING
  }

  #signal(signal: NodeJS.Signals): void {
    this.#checkOpen(signal === 'SIGKILL' ? 'kill()' : 'terminate()')
    if (this.#state() !== RUNNING) return
    try {
      process.kill(Atomics.load(this.#control, CONTROL_PID), signal)
    } catch {
      // Already gone.
    }
  }

  /** Ends the process with SIGTERM (its `exitCode` becomes -15). */
  terminate(): void {
    this.#signal('SIGTERM')
  }

  /** Ends the process with SIGKILL (its `exitCode` becomes -9). */
  kill(): void {
    this.#signal('SIGKILL')
  }

  /**
   * Releases the process object; most methods throw afterwards.
   * @throws {ProcessStateError} `ERR_PROCESS_STATE` if the process is still running
   */
  close(): void {
    if (this.#closed) return
    if (this.#state() === RUNNING || this.#state() === STARTING) throw new ProcessStateError(`Process.close(): ${this.#name} is still running; join() or terminate() it first`)
    children.delete(this)
    this.#closed = true
  }

  toString(): string {
    const s = this.#state()
    const state = this.#closed ? 'closed' : s === NEW ? 'initial' : s === RUNNING ? 'started' : `stopped exitcode=${Atomics.load(this.#control, CONTROL_EXIT)}`
    return `<Process name='${this.#name}' ${state}${this.#daemon ? ' daemon' : ''}>`
  }

  /** @internal Builds the Process object describing a running process (current or parent). */
  static _describe<P extends Process>(cls: new (opts?: ProcessOptions) => P, info: ProcessInfo, pid: number): P {
    describing = { info, pid }
    try {
      return Reflect.construct(Process, [], cls) as P
    } finally {
      describing = undefined
    }
  }
}

function probe(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

let current: Process | undefined
let parent: ParentProcess | null | undefined

/** @internal Installs the running process's object (the child bootstrap, for a subclass). */
export function _setCurrentProcess(p: Process): void {
  current = p
}

/**
 * The Process object of the calling process: `MainProcess` in the root, the child's own in a
 * child (in any of its threads).
 * @example
 * ```ts
 * import { currentProcess } from '@tandem/ipc/process'
 *
 * console.log(currentProcess().name, currentProcess().pid === process.pid) // MainProcess true
 * ```
 */
export function currentProcess(): Process {
  current ??= Process._describe(Process, processInfo(), process.pid)
  return current
}

/**
 * The parent of a child process (Python's `parent_process()`), or null in the main process.
 */
export interface ParentProcess {
  readonly pid: number
  readonly name: string
  /** Whether the parent still runs. */
  isAlive(): boolean
  /** Waits until the parent ends; true if it did within `timeout` ms. */
  join(timeout?: number): boolean
}

/**
 * The parent process of this child, or null in the main process.
 * @example
 * ```ts
 * import { parentProcess, Process } from '@tandem/ipc/process'
 *
 * console.log(parentProcess()) // null: this is the main process
 * const p = new Process({
 *   target: async (ppid: number) => {
 *     const { parentProcess } = await import('@tandem/ipc/process')
 *     const parent = parentProcess()!
 *     console.log(parent.pid === ppid, parent.name, parent.isAlive()) // true MainProcess true
 *   },
 *   args: [process.pid],
 * })
 * p.start()
 * p.join()
 * ```
 */
export function parentProcess(): ParentProcess | null {
  if (parent !== undefined) return parent
  const info = processInfo()
  if (info.parentPid === 0) return (parent = null)
  const pid = info.parentPid
  const pause = new Int32Array(new SharedArrayBuffer(4))
  parent = {
    pid,
    name: info.parentName,
    isAlive: () => probe(pid) && process.ppid === pid,
    join(timeout?: number): boolean {
      const deadline = deadlineOf(checkTimeout(timeout))
      for (;;) {
        if (!this.isAlive()) return true
        const t = remaining(deadline)
        if (t === 0) return false
        Atomics.wait(pause, 0, 0, Math.min(t, 50))
      }
    },
  }
  return parent
}

/**
 * The child processes started from the calling thread that are still running (finished ones are
 * forgotten, as Python's `active_children()` joins them).
 * @example
 * ```ts
 * import { activeChildren, Process } from '@tandem/ipc/process'
 *
 * const p = new Process({ target: () => new Promise((r) => setTimeout(r, 300)) })
 * p.start()
 * console.log(activeChildren().includes(p)) // true
 * p.join()
 * console.log(activeChildren().length) // 0
 * ```
 */
export function activeChildren(): Process[] {
  const out: Process[] = []
  for (const p of children) {
    if (p.isAlive()) out.push(p)
    else children.delete(p)
  }
  return out
}

/**
 * Number of CPUs Node may use (`os.availableParallelism()`), like `os.cpu_count()`.
 * @example
 * ```ts
 * import { cpuCount } from '@tandem/ipc/process'
 *
 * console.log(cpuCount() >= 1) // true
 * ```
 */
export function cpuCount(): number {
  return availableParallelism()
}
