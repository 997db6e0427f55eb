/**
 * Runs the demos in this folder, each in its own Node process:
 *
 *   pnpm demo                  every demo, then a pass/fail table (exit code 1 if any failed)
 *   pnpm demo poetry           one demo (several names may be given)
 *   pnpm demo --list           the names only
 *
 * A demo is any `examples/<name>.ts` except this file and files starting with `_` (helpers), so
 * a new demo is picked up by adding its file. Each runs as
 * `node --import=tsx --conditions=@tandem/source examples/<name>.ts` from the repository root,
 * with its output streamed as it comes after a header line, and fails if it exits nonzero, dies
 * of a signal, or runs longer than 120 s (`DEMO_TIMEOUT=<seconds>` to change; its whole process
 * group is then killed).
 */
import { spawn } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const HERE = dirname(fileURLToPath(import.meta.url))
const ROOT = join(HERE, '..')
const NODE_ARGS = ['--import=tsx', '--conditions=@tandem/source']
/** Per-demo limit; `DEMO_TIMEOUT=<seconds>` overrides it. */
const TIMEOUT_MS = Number(process.env.DEMO_TIMEOUT ?? 120) * 1000
/** After SIGTERM on timeout, how long a demo gets before SIGKILL. */
const KILL_GRACE_MS = 5_000

interface Outcome {
  readonly name: string
  readonly ok: boolean
  readonly result: string
  readonly seconds: number
}

/** Demo names found in this folder, sorted. */
function discover(): string[] {
  return readdirSync(HERE)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && f !== 'run.ts' && !f.startsWith('_'))
    .map((f) => f.slice(0, -'.ts'.length))
    .sort()
}

/** The demo running now (its pid is also its process group id). */
let current: { pid: number } | undefined
let interrupted = false

/** Signals the demo's whole process group (the demo may have started child processes). */
function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal)
  } catch {
    // already gone
  }
}

function runDemo(name: string): Promise<Outcome> {
  const file = join(HERE, `${name}.ts`)
  const header = `=== ${name} (${relative(ROOT, file)}) `
  process.stdout.write(`\n${header}${'='.repeat(Math.max(3, 78 - header.length))}\n`)
  const t0 = performance.now()
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...NODE_ARGS, relative(ROOT, file)], {
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'inherit'],
      detached: true, // own process group, so a timeout can kill everything the demo started
    })
    let timedOut = false
    let killer: NodeJS.Timeout | undefined
    const timer = setTimeout(() => {
      timedOut = true
      process.stdout.write(`\n[run] ${name}: no exit after ${TIMEOUT_MS / 1000} s; killing it\n`)
      signalGroup(child.pid!, 'SIGTERM')
      killer = setTimeout(() => signalGroup(child.pid!, 'SIGKILL'), KILL_GRACE_MS)
    }, TIMEOUT_MS)
    current = { pid: child.pid! }
    const finish = (ok: boolean, result: string) => {
      clearTimeout(timer)
      clearTimeout(killer)
      current = undefined
      resolve({ name, ok, result, seconds: (performance.now() - t0) / 1000 })
    }
    child.on('error', (err) => finish(false, `could not start (${err.message})`))
    child.on('exit', (code, signal) => {
      // Leftovers of a demo that exited but left processes behind in its group.
      signalGroup(child.pid!, 'SIGKILL')
      if (timedOut) finish(false, `timeout (${TIMEOUT_MS / 1000} s)`)
      else if (interrupted) finish(false, 'interrupted')
      else if (signal !== null) finish(false, `killed by ${signal}`)
      else if (code !== 0) finish(false, `exit code ${code}`)
      else finish(true, 'pass')
    })
  })
}

function printSummary(outcomes: readonly Outcome[]): void {
  const width = Math.max(4, ...outcomes.map((o) => o.name.length)) + 2
  const lines = [
    '',
    '=== summary ' + '='.repeat(66),
    `${'demo'.padEnd(width)}${'result'.padEnd(24)}time`,
    ...outcomes.map((o) => `${o.name.padEnd(width)}${(o.ok ? 'pass' : `FAIL: ${o.result}`).padEnd(24)}${o.seconds.toFixed(1)} s`),
    '',
    `${outcomes.filter((o) => o.ok).length} passed, ${outcomes.filter((o) => !o.ok).length} failed`,
  ]
  process.stdout.write(`${lines.join('\n')}\n`)
}

async function main(argv: string[]): Promise<number> {
  const all = discover()
  if (argv.includes('--list')) {
    process.stdout.write(`${all.join('\n')}\n`)
    return 0
  }
  const names = argv.length > 0 ? argv.map((a) => a.replace(/^examples\//, '').replace(/\.ts$/, '')) : all
  const unknown = names.filter((n) => !all.includes(n))
  if (unknown.length > 0) {
    process.stderr.write(`Unknown demo ${unknown.join(', ')}; available: ${all.join(', ')}\n`)
    return 2
  }
  process.on('SIGINT', () => {
    interrupted = true
    if (current !== undefined) signalGroup(current.pid, 'SIGINT')
  })
  const outcomes: Outcome[] = []
  for (const name of names) {
    if (interrupted) break
    outcomes.push(await runDemo(name))
  }
  printSummary(outcomes)
  if (interrupted) return 130
  return outcomes.every((o) => o.ok) ? 0 : 1
}

process.exitCode = await main(process.argv.slice(2))
