// ESLint (flat config): typescript-eslint's recommended rules, plus limits that keep functions and lines readable,
// plus two type-aware rules (they read the types through tsconfig.check.json, which covers src/, test/ and bench/):
// a promise is awaited, returned or handed on, never dropped, and never given where a callback's result is ignored.
// `npm run lint` runs it with ShellCheck (scripts/lint-shell); CI fails on any error.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'dist-bench/', 'node_modules/', 'bench/results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { project: './tsconfig.check.json', tsconfigRootDir: import.meta.dirname } },
    rules: {
      'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }],
      'max-len': ['error', { code: 200, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true, ignoreUrls: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      'no-control-regex': 'off', // rig escapes control characters in what nodes publish: its regexes name them
    },
  },
  {
    // Tests: a describe block is one long function by nature.
    files: ['test/**/*.ts'],
    rules: { 'max-lines-per-function': 'off' },
  },
  {
    // The bench's launcher (the bench itself is TypeScript, under the rules above).
    files: ['bench/**/*.mjs'],
    languageOptions: { globals: { process: 'readonly' } },
  },
);
