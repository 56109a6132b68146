// Lint with type information. The two promise rules carry rule O3: "pending" is never read as
// "done". test/lint-fixtures/ holds code that must fail them; test/lint.test.ts proves it does.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'test/lint-fixtures/'] },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.base],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test collects the promises test() returns; awaiting them would serialize nothing.
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] }] },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/require-await': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        { selector: "MemberExpression[object.name='fs'][property.name=/^(read|write|close)(Sync)?$/]", message: 'Use the Io interface: raw fd calls can reach a recycled fd.' },
      ],
    },
  },
  {
    // The real backend and the tests that show what goes wrong without it may use raw fd calls.
    files: ['src/io/node/**', 'src/test-support/**', '**/*.test.ts', 'bench/**'],
    rules: { 'no-restricted-syntax': 'off' },
  },
);
