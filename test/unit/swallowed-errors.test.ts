import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * An error dropped on purpose says why: a `.catch(() => {})`, a `() => {}` rejection handler, or a `catch` whose block
 * is empty or only returns a constant, has a `//` comment on its line, the line before or the line after.
 */
const src = resolve(import.meta.dirname, '../../src');
const NOT_YET: RegExp[] = []; // every file of src/ is checked (the runtime split, issue 23, has landed)

const SWALLOW = [/\.catch\(\(\) => \{\}\)/, /^\s*\(\) => \{\},?\s*$/, /\bcatch (\(\w+\) )?\{\s*\}/];
const CATCH = /\bcatch (\(\w+\) )?\{$/;
const NOTHING_DONE = /^(\}|return( undefined| false| true| null| \[\]| '')?;|continue;)$/;

function uncommentedSwallows(file: string, text: string): string[] {
  const lines = text.split('\n');
  const commented = (i: number) => [i - 1, i, i + 1].some((j) => (lines[j] ?? '').includes('//'));
  const swallows = (line: string, i: number) =>
    SWALLOW.some((re) => re.test(line)) || (CATCH.test(line) && NOTHING_DONE.test((lines[i + 1] ?? '').trim()));
  return lines.flatMap((line, i) => (swallows(line, i) && !commented(i) ? [`${file}:${i + 1}: ${line.trim()}`] : []));
}

describe('swallowed errors', () => {
  it('finds an uncommented swallow and passes a commented one', () => {
    expect(uncommentedSwallows('a.ts', 'x.catch(() => {});')).toEqual(['a.ts:1: x.catch(() => {});']);
    expect(uncommentedSwallows('a.ts', 'try {\n  f();\n} catch {\n  return;\n}')).toEqual(['a.ts:3: } catch {']);
    expect(uncommentedSwallows('a.ts', 'try {\n  f();\n} catch {}')).toEqual(['a.ts:3: } catch {}']);
    expect(uncommentedSwallows('a.ts', 'try {\n  f();\n} catch {\n  throw new Error("no f");\n}')).toEqual([]);
    expect(uncommentedSwallows('a.ts', 'x.catch(() => {}); // gone already')).toEqual([]);
    expect(uncommentedSwallows('a.ts', '} catch {\n  // not there: nothing to undo\n}')).toEqual([]);
  });

  it('every one in src/ says why', () => {
    const files = (readdirSync(src, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts') && !NOT_YET.some((re) => re.test(f)));
    expect(files.length).toBeGreaterThan(50); // the scan sees the sources
    expect(files.flatMap((f) => uncommentedSwallows(f, readFileSync(join(src, f), 'utf8')))).toEqual([]);
  });
});
