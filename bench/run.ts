/**
 * `pnpm bench [name...] [--quick] [--strict]`: runs benchmark scenario groups and prints their
 * result tables; with no name, runs all of them.
 *
 * A scenario group is a file `bench/<name>.bench.ts` whose default export is a `Scenario`
 * (see `lib.ts`); it is found by its file name, so adding one needs no change here. Each run
 * writes its table as markdown to `bench/results/<name>.md` (not with `--quick`).
 *
 * - `--quick`: tiny sizes, to check that the scenarios work (numbers are meaningless).
 * - `--strict`: exit with code 1 if a measured ratio misses its target.
 *
 * @module
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { allPass, describeIdle, describeMachine, findPython, renderConsole, renderMarkdown, type BenchContext, type Scenario } from './lib.ts'

const SUFFIX = '.bench.ts'
/** Run order when no name is given (dependency order); other groups follow alphabetically. */
const ORDER = ['sync', 'queue', 'futures']

const dir = new URL('./', import.meta.url)
const found = readdirSync(dir)
  .filter((f) => f.endsWith(SUFFIX))
  .map((f) => f.slice(0, -SUFFIX.length))
const available = [...ORDER.filter((n) => found.includes(n)), ...found.filter((n) => !ORDER.includes(n)).sort()]

const argv = process.argv.slice(2)
const flags = new Set(argv.filter((a) => a.startsWith('--')))
const names = argv.filter((a) => !a.startsWith('--'))
for (const f of flags) {
  if (f !== '--quick' && f !== '--strict') {
    console.error(`Unknown option ${f}; use --quick and/or --strict`)
    process.exit(2)
  }
}
for (const n of names) {
  if (!available.includes(n)) {
    console.error(`Unknown benchmark "${n}"; available: ${available.join(', ')} (files bench/<name>${SUFFIX})`)
    process.exit(2)
  }
}

const python = await findPython()
const ctx: BenchContext = {
  quick: flags.has('--quick'),
  log: (message) => process.stderr.write(`  ... ${message}\n`),
  python,
}
const machine = describeMachine(python)
console.log(`Machine: ${machine.cores} cores (${machine.cpu}), Node ${machine.node}, ${machine.python}${ctx.quick ? ' [--quick: sizes too small to mean anything]' : ''}`)

let ok = true
for (const name of names.length > 0 ? names : available) {
  const mod = (await import(new URL(`./${name}${SUFFIX}`, dir).href)) as { default: Scenario }
  const scenario = mod.default
  console.log(`\n== ${name}: ${scenario.title}`)
  const started = performance.now()
  const result = await scenario.run(ctx)
  console.log(renderConsole(result.rows))
  const idle = describeIdle(result.rows)
  console.log(`(${((performance.now() - started) / 1000).toFixed(1)} s${idle === undefined ? '' : `; ${idle}`})`)
  ok &&= allPass(result.rows)
  if (!ctx.quick) {
    const out = new URL('./results/', dir)
    mkdirSync(out, { recursive: true })
    writeFileSync(new URL(`${name}.md`, out), renderMarkdown(name, scenario.title, result, machine, new Date()))
    console.log(`Written to bench/results/${name}.md`)
  }
}
if (flags.has('--strict') && !ok) process.exitCode = 1
