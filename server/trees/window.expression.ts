/**
 * Parses a window-size expression such as '0.07*h+3' into a function of height, without eval:
 * a small recursive-descent parser over numbers, the variable h, + - * / ^, parentheses and a few
 * named functions. So a user's lidR `lmf(ws = function(x) x * 0.07 + 3)` carries over as text.
 */
import { InvalidInputError } from '../errors.ts';
import type { WindowFunction } from './types.ts';

type Node = (h: number) => number;

const functions: Record<string, (...a: number[]) => number> = {
  min: Math.min, max: Math.max, sqrt: Math.sqrt, exp: Math.exp, log: Math.log, abs: Math.abs, pow: Math.pow,
};

const MAX_LENGTH = 200;

export function parseWindowExpression(text: string): WindowFunction {
  if (text.length > MAX_LENGTH) throw new InvalidInputError(`window expression longer than ${MAX_LENGTH} characters`);
  const tokens = text.match(/\s*(\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|[A-Za-z_]+|\*\*|[-+*/^(),]|\S)/g) ?? [];
  const toks = tokens.map((t) => t.trim());
  let pos = 0;
  const fail = (why: string): never => {
    throw new InvalidInputError(`cannot parse window expression '${text}': ${why}`);
  };
  const peek = () => toks[pos];
  const take = (t?: string) => {
    const tok = toks[pos];
    if (t !== undefined && tok !== t) fail(`expected '${t}' at token ${pos + 1}, got '${tok ?? 'end'}'`);
    pos++;
    return tok;
  };

  function expr(): Node {
    let left = term();
    while (peek() === '+' || peek() === '-') {
      const op = take();
      const l = left, r = term();
      left = op === '+' ? (h) => l(h) + r(h) : (h) => l(h) - r(h);
    }
    return left;
  }
  function term(): Node {
    let left = unary();
    while (peek() === '*' || peek() === '/') {
      const op = take();
      const l = left, r = unary();
      left = op === '*' ? (h) => l(h) * r(h) : (h) => l(h) / r(h);
    }
    return left;
  }
  function unary(): Node {
    if (peek() === '-') { take(); const a = unary(); return (h) => -a(h); }
    if (peek() === '+') { take(); return unary(); }
    return power();
  }
  function power(): Node {
    const base = atom();
    if (peek() === '^' || peek() === '**') {
      take();
      const exp = unary(); // right-associative
      return (h) => Math.pow(base(h), exp(h));
    }
    return base;
  }
  function atom(): Node {
    const tok = take();
    if (tok === undefined) return fail('unexpected end');
    if (tok === '(') { const e = expr(); take(')'); return e; }
    if (/^(\d|\.\d)/.test(tok)) {
      const v = Number(tok);
      if (!Number.isFinite(v)) fail(`bad number '${tok}'`);
      return () => v;
    }
    if (tok === 'h' || tok === 'x' || tok === 'Z' || tok === 'z') return (h) => h;
    if (tok in functions) {
      const fn = functions[tok];
      take('(');
      const args: Node[] = [expr()];
      while (peek() === ',') { take(); args.push(expr()); }
      take(')');
      return (h) => fn(...args.map((a) => a(h)));
    }
    return fail(`unknown token '${tok}' (use numbers, h, + - * / ^, parentheses, ${Object.keys(functions).join(', ')})`);
  }

  const root = expr();
  if (pos !== toks.length) fail(`unexpected '${toks[pos]}'`);
  return root;
}

/** The window every entry point uses unless told otherwise: lidR's variable window, which adapts to
 *  stands of mixed heights better than a fixed diameter. */
export const DEFAULT_WS = '0.07*h+3';

/**
 * Why a window cannot serve tops from `hmin` to `hmax` metres tall, or null: a diameter must be a
 * number of metres in (0, hmax] at every height (a function is sampled every 0.1 m). Detection
 * checks the heights it meets as well; this lets a request be refused before any work is done.
 */
export function windowSizeProblem(ws: number | WindowFunction, hmin: number, hmax = 100): string | null {
  const bad = (d: number) => !(d > 0 && d <= hmax);
  if (typeof ws === 'number') return bad(ws) ? `the window diameter must be in (0, ${hmax}] m, got ${ws}` : null;
  for (let k = 0; ; k++) {
    const h = Math.min(hmax, hmin + k * 0.1);
    const d = ws(h);
    if (bad(d)) return `the window size function gives ${Number.isFinite(d) ? Number(d.toPrecision(4)) : d} m at height ${Number(h.toFixed(2))} m; it must give (0, ${hmax}] m at every height from ${hmin} to ${hmax} m`;
    if (h >= hmax) return null;
  }
}

/** A --ws value: a plain number (fixed diameter) or an expression of h. */
export function parseWindowSize(text: string): number | WindowFunction {
  const n = Number(text);
  if (text.trim() !== '' && Number.isFinite(n)) {
    if (n <= 0) throw new InvalidInputError(`window size must be positive, got ${text}`);
    return n;
  }
  return parseWindowExpression(text);
}
