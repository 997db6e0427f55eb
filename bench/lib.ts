/**
 * Shared machinery of the Tandem benchmarks: the scenario contract that `run.ts` dispatches on,
 * repeated measurements, the CPython baseline runner, machine description and the table
 * rendering (console and markdown).
 *
 * A scenario file is `bench/<name>.bench.ts` with a default export of type {@link Scenario};
 * `run.ts` finds it by file name, so adding a scenario touches no other file.
 *
 * @module
 */
import { execFile } from 'node:child_process'
import { cpus, release, totalmem, type as osType } from 'node:os'
import { Thread, moduleRef, type ExceptHookArgs } from '@tandem/sync'

// ---- scenario contract -----------------------------------------------------------------------

/** Options every scenario receives from `run.ts`. */
export interface BenchContext {
  /** `--quick`: much smaller sizes, for checking that the scenario runs at all. */
  readonly quick: boolean
  /** Progress line on stderr (the table goes to stdout). */
  log(message: string): void
  /** The CPython runner (python3 by default, `$PYTHON` overrides). */
  readonly python: PythonRunner
}

/** Repeated measurements of one rate (operations per second), higher is better. */
export interface Rate {
  /** Every run, in the order measured. */
  readonly runs: readonly number[]
  /** The highest rate: the run least disturbed by other load on a shared machine. */
  readonly best: number
  /** The median rate. */
  readonly median: number
}

/** One line of a result table: Tandem against a baseline measured in the same run. */
export interface Row {
  /** What is measured, e.g. `Lock acquire+release, uncontended, 1 worker`. */
  readonly scenario: string
  /** Unit of the rate, e.g. `ops/s`, `handoffs/s`. */
  readonly unit: string
  readonly tandem: Rate
  /** Name of the baseline, e.g. `CPython 3.11 threading.Lock`. */
  readonly baselineName: string
  /** The baseline's rate, or a reason it was not measured (python3 missing). */
  readonly baseline: Rate | Skipped
  /** Minimum ratio tandem.best / baseline.best to pass. */
  readonly target: number
  /** Fraction of CPU time idle just before each round (other load on the machine), 0..1. */
  readonly idleBefore?: readonly number[]
}

/**
 * A line of a result table that is a pass/fail check rather than a rate against a baseline
 * (e.g. "memory stays flat"): rendered in the same table, `measured` in the Tandem column and
 * `bound` in the target column.
 */
export interface CheckRow {
  readonly kind: 'check'
  /** What is checked, e.g. `Queue(1024) memory over 10 M small objects`. */
  readonly scenario: string
  /** Short summary of what was measured, e.g. `arena blocks +0, RSS +3.1 MiB`. */
  readonly measured: string
  /** The bound it must stay within, e.g. `blocks back to baseline, RSS growth <= 64 MiB`. */
  readonly bound: string
  readonly pass: boolean
  /** Longer account for the markdown report (the samples). */
  readonly details?: string
  /** As in {@link Row}. */
  readonly idleBefore?: readonly number[]
}

/** What a scenario returns. */
export interface ScenarioResult {
  readonly rows: readonly (Row | CheckRow)[]
  /** Extra lines for the markdown report: sizes, method, caveats. */
  readonly notes?: readonly string[]
}

/** A benchmark scenario group, the default export of `bench/<name>.bench.ts`. */
export interface Scenario {
  /** Title of the report, e.g. `@tandem/sync primitives`. */
  readonly title: string
  /** Runs every measurement, baselines included. */
  run(ctx: BenchContext): Promise<ScenarioResult>
}

// ---- measuring ---------------------------------------------------------------------------------

/** Wall clock in ms, comparable across worker threads (each worker's `performance.now()` has its own origin). */
export function wallNow(): number {
  return performance.timeOrigin + performance.now()
}

/** Summarises repeated rates. @throws {RangeError} for no runs */
export function rate(runs: readonly number[]): Rate {
  if (runs.length === 0) throw new RangeError('rate(): no runs to summarise')
  const sorted = [...runs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
  return { runs: [...runs], best: sorted[sorted.length - 1]!, median }
}

/**
 * Runs `body` `warmup` times untimed, then `reps` times timed, and returns the rates
 * `ops / elapsed` (ops/s) of the timed runs. For main-thread measurements; workers time
 * themselves.
 */
export async function timeRuns(reps: number, warmup: number, ops: number, body: () => Promise<void> | void): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await body()
  const runs: number[] = []
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now()
    await body()
    runs.push((ops * 1000) / (performance.now() - t0))
  }
  return runs
}

/** A fresh shared Float64Array of `n` zeros (workers write timings into it). */
export function sharedFloats(n: number): Float64Array {
  return new Float64Array(new SharedArrayBuffer(8 * n))
}

/** A fresh shared Int32Array of `n` zeros. */
export function sharedInts(n: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(4 * n))
}

const escaped: ExceptHookArgs[] = []
Thread.excepthook = (args) => {
  escaped.push(args)
}

/**
 * Runs one Tandem Thread per entry of `argsPerThread`, each calling the export `name` of the
 * bench module `module`, and waits (async) for all of them.
 * @throws if a thread's target threw, or a thread is still running after `timeoutMs`
 */
export async function runThreads(module: URL, name: string, argsPerThread: unknown[][], timeoutMs: number): Promise<void> {
  const target = moduleRef(module, name)
  const threads = argsPerThread.map((args, i) => new Thread({ target, args, name: `bench-${name}-${i}`, daemon: true }))
  for (const t of threads) t.start()
  const deadline = Date.now() + timeoutMs
  for (const t of threads) {
    if (!(await t.joinAsync(Math.max(0, deadline - Date.now())))) {
      throw new Error(`${t.name} still running after ${timeoutMs} ms; the benchmark is stuck or the machine overloaded`)
    }
  }
  await new Promise((r) => setTimeout(r, 20)) // let error reports from the workers arrive
  const mine = escaped.filter((e) => threads.includes(e.thread))
  if (mine.length > 0) throw mine[0]!.excValue
}

// ---- CPython baselines ---------------------------------------------------------------------------

/** Runs inline CPython scripts; `version` is undefined when no interpreter was found. */
export interface PythonRunner {
  readonly executable: string
  /** e.g. `3.11.7`, or undefined if python is missing. */
  readonly version: string | undefined
  /**
   * Runs `script` with `args` (as `sys.argv[1:]`); the script prints one JSON value on its last
   * line of stdout, which is returned.
   */
  run(script: string, args: readonly (string | number)[], timeoutMs: number): Promise<unknown>
}

function execText(file: string, args: readonly string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stderr }))
      else resolve(stdout)
    })
  })
}

/** Finds the CPython interpreter (`$PYTHON` or `python3`) and its version. */
export async function findPython(): Promise<PythonRunner> {
  const executable = process.env.PYTHON ?? 'python3'
  let version: string | undefined
  try {
    version = (await execText(executable, ['-c', 'import platform; print(platform.python_version())'], 10_000)).trim()
  } catch {
    version = undefined
  }
  return {
    executable,
    version,
    async run(script, args, timeoutMs) {
      if (version === undefined) throw new Error(`${executable} is not available`)
      const out = await execText(executable, ['-c', script, ...args.map(String)], timeoutMs)
      const lines = out.trim().split('\n')
      return JSON.parse(lines[lines.length - 1]!)
    },
  }
}

/** A baseline that was not measured. */
export interface Skipped {
  /** Why, e.g. `python3 not found`. */
  readonly skipped: string
}

/**
 * Runs a CPython baseline script that prints a JSON list of rates, or says why it was skipped.
 * Only a missing interpreter is a skip; a failing script is an error.
 */
export async function pythonRuns(ctx: BenchContext, script: string, args: readonly (string | number)[], timeoutMs = 60_000): Promise<number[] | Skipped> {
  if (ctx.python.version === undefined) return { skipped: `${ctx.python.executable} not found` }
  const runs = await ctx.python.run(script, args, timeoutMs)
  if (!Array.isArray(runs) || runs.length === 0 || runs.some((r) => typeof r !== 'number')) {
    throw new Error(`Python baseline printed ${JSON.stringify(runs)}; expected a non-empty list of rates`)
  }
  return runs as number[]
}

function cpuTimes(): { idle: number; total: number } {
  let idle = 0
  let total = 0
  for (const { times } of cpus()) {
    idle += times.idle
    total += times.user + times.nice + times.sys + times.idle + times.irq
  }
  return { idle, total }
}

/**
 * Fraction of the machine's CPU time that was idle during the next `ms` (this process sleeps
 * meanwhile, so what is busy is other load). Resolution is a scheduler tick (10 ms) per core.
 */
export async function idleFraction(ms = 200): Promise<number> {
  const a = cpuTimes()
  await new Promise((r) => setTimeout(r, ms))
  const b = cpuTimes()
  return b.total > a.total ? (b.idle - a.idle) / (b.total - a.total) : 1
}

/**
 * Measures Tandem and its baseline in `rounds` alternating rounds (Tandem, baseline, Tandem,
 * ...) and pools the runs of each side, so that a burst of load on a shared machine does not
 * fall on one side only.
 */
export async function alternate(
  rounds: number,
  tandem: () => Promise<number[]>,
  baseline: () => Promise<number[] | Skipped>,
): Promise<{ tandem: Rate; baseline: Rate | Skipped; idleBefore: number[] }> {
  const t: number[] = []
  const b: number[] = []
  const idleBefore: number[] = []
  let skipped: Skipped | undefined
  for (let i = 0; i < rounds; i++) {
    idleBefore.push(await idleFraction())
    t.push(...(await tandem()))
    if (skipped !== undefined) continue
    const runs = await baseline()
    if ('skipped' in runs) skipped = runs
    else b.push(...runs)
  }
  return { tandem: rate(t), baseline: skipped ?? rate(b), idleBefore }
}

// ---- machine ---------------------------------------------------------------------------------------

/** Where the numbers were measured. */
export interface Machine {
  readonly cores: number
  readonly cpu: string
  readonly memoryGiB: number
  readonly os: string
  readonly node: string
  readonly python: string
}

/** Describes the machine and runtimes. */
export function describeMachine(python: PythonRunner): Machine {
  const list = cpus()
  return {
    cores: list.length,
    cpu: list[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${osType()} ${release()}`,
    node: process.version,
    python: python.version === undefined ? `not found (${python.executable})` : `CPython ${python.version}`,
  }
}

// ---- rendering ---------------------------------------------------------------------------------------

/** `41.2 M ops/s`, `37.1 k handoffs/s`, `512 ops/s`. */
export function formatRate(x: number, unit: string): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(x >= 1e8 ? 0 : x >= 1e7 ? 1 : 2)} M ${unit}`
  if (x >= 1e3) return `${(x / 1e3).toFixed(x >= 1e5 ? 0 : 1)} k ${unit}`
  return `${x.toFixed(0)} ${unit}`
}

interface Cells {
  scenario: string
  tandem: string
  baseline: string
  ratio: string
  target: string
  result: string
}

function isCheck(row: Row | CheckRow): row is CheckRow {
  return (row as CheckRow).kind === 'check'
}

function cells(row: Row | CheckRow): Cells {
  if (isCheck(row)) {
    return { scenario: row.scenario, tandem: row.measured, baseline: '-', ratio: '-', target: row.bound, result: row.pass ? 'pass' : 'FAIL' }
  }
  const b = row.baseline
  const measured = 'best' in b
  const ratio = measured ? row.tandem.best / b.best : undefined
  return {
    scenario: row.scenario,
    tandem: formatRate(row.tandem.best, row.unit),
    baseline: measured ? `${formatRate(b.best, row.unit)} (${row.baselineName})` : `skipped (${row.baselineName}: ${b.skipped})`,
    ratio: ratio === undefined ? '-' : `${ratio.toFixed(2)}x`,
    target: `>= ${row.target}x`,
    result: ratio === undefined ? 'skipped' : ratio >= row.target ? 'pass' : 'FAIL',
  }
}

/** True if every measured row meets its target. */
export function allPass(rows: readonly (Row | CheckRow)[]): boolean {
  return rows.every((r) => cells(r).result !== 'FAIL')
}

const HEADERS: Cells = { scenario: 'scenario', tandem: 'Tandem', baseline: 'baseline', ratio: 'ratio', target: 'target', result: 'pass/fail' }
const KEYS = Object.keys(HEADERS) as (keyof Cells)[]

/** `idle 97-100% (median 99%)` over the samples of all rows, or undefined if none. */
export function describeIdle(rows: readonly (Row | CheckRow)[]): string | undefined {
  const all = rows.flatMap((r) => r.idleBefore ?? [])
  if (all.length === 0) return undefined
  const sorted = [...all].sort((a, b) => a - b)
  const pct = (x: number): string => `${Math.round(x * 100)}%`
  return `CPU idle just before each round ${pct(sorted[0]!)}-${pct(sorted[sorted.length - 1]!)} (median ${pct(sorted[sorted.length >> 1]!)})`
}

/** Plain-text table for the terminal. */
export function renderConsole(rows: readonly (Row | CheckRow)[]): string {
  const table = [HEADERS, ...rows.map(cells)]
  const width = KEYS.map((k) => Math.max(...table.map((c) => c[k].length)))
  const line = (c: Cells): string =>
    KEYS.map((k, i) => c[k].padEnd(width[i]!))
      .join(' | ')
      .trimEnd()
  const rule = width.map((w) => '-'.repeat(w)).join('-+-')
  return [line(HEADERS), rule, ...table.slice(1).map(line)].join('\n')
}

/** Markdown report: machine, table, spread of runs, notes. */
export function renderMarkdown(name: string, title: string, result: ScenarioResult, machine: Machine, date: Date): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|')
  const out: string[] = []
  out.push(`# Benchmark: ${title}`, '')
  out.push(`Generated by \`pnpm bench ${name}\` on ${date.toISOString().slice(0, 10)}.`, '')
  out.push(
    `Machine: ${machine.cores} cores (${machine.cpu}), ${machine.memoryGiB} GiB RAM, ${machine.os}; ` + `Node ${machine.node}; ${machine.python}.`,
    '',
    `Other load on the machine: ${describeIdle(result.rows) ?? 'not sampled'} (100% = nothing else running). The two-worker rows depend on both workers getting a core; see bench/README.md.`,
    '',
  )
  out.push(`| ${KEYS.map((k) => HEADERS[k]).join(' | ')} |`, `| ${KEYS.map(() => '---').join(' | ')} |`)
  for (const row of result.rows) {
    const c = cells(row)
    out.push(`| ${KEYS.map((k) => esc(c[k])).join(' | ')} |`)
  }
  out.push('', 'Each cell is the best of several runs (the run least disturbed by other load); ratio = Tandem best / baseline best. Median and spread:', '')
  for (const row of result.rows) {
    if (isCheck(row)) {
      const idle = row.idleBefore === undefined ? '' : `; CPU idle before ${row.idleBefore.map((x) => `${Math.round(x * 100)}%`).join(', ')}`
      out.push(`- ${esc(row.scenario)}: ${row.details ?? row.measured}${idle}.`)
      continue
    }
    const spread = (r: Rate): string => `median ${formatRate(r.median, row.unit)}, runs ${r.runs.map((x) => formatRate(x, row.unit)).join(', ')}`
    const b = row.baseline
    const idle = row.idleBefore === undefined ? '' : `; CPU idle before each round ${row.idleBefore.map((x) => `${Math.round(x * 100)}%`).join(', ')}`
    out.push(`- ${esc(row.scenario)}: Tandem ${spread(row.tandem)}; baseline ${'best' in b ? spread(b) : `skipped (${b.skipped})`}${idle}.`)
  }
  if (result.notes !== undefined && result.notes.length > 0) {
    out.push('', '## Method', '')
    for (const n of result.notes) out.push(`- ${n}`)
  }
  return `${out.join('\n')}\n`
}

// ---- rounds with several baselines -------------------------------------------------------------

/** Tandem and its baselines, each pooled over the rounds. */
export interface Measured {
  tandem: Rate
  baselines: (Rate | Skipped)[]
  idleBefore: number[]
}

/**
 * `n` rounds of: CPU-idle sample, the Tandem runs, then each baseline's runs; pools the runs of
 * each side (like `alternate` in lib.ts, for several baselines sharing one Tandem side).
 */
export async function rounds(n: number, tandem: () => Promise<number[]>, baselines: (() => Promise<number[] | Skipped>)[]): Promise<Measured> {
  const t: number[] = []
  const b: number[][] = baselines.map(() => [])
  const skipped: (Skipped | undefined)[] = baselines.map(() => undefined)
  const idleBefore: number[] = []
  for (let i = 0; i < n; i++) {
    idleBefore.push(await idleFraction())
    t.push(...(await tandem()))
    for (let j = 0; j < baselines.length; j++) {
      if (skipped[j] !== undefined) continue
      const runs = await baselines[j]!()
      if ('skipped' in runs) skipped[j] = runs
      else b[j]!.push(...runs)
    }
  }
  return { tandem: rate(t), baselines: b.map((runs, j) => skipped[j] ?? rate(runs)), idleBefore }
}
