// A module whose export is run as a task by reference (moduleRef) in smoke.mjs.
import { getIdent } from '@tandem/sync/thread'

/** Sums 1..n and reports which thread did it. */
export function crunch(n) {
  let sum = 0
  for (let i = 1; i <= n; i++) sum += i
  return { sum, ident: getIdent() }
}
