/**
 * The layer rules of DESIGN.md section 2: imports point down only. `npm run layers` fails CI on
 * any violation. A layer lists the layers it may import; everything else is forbidden.
 */
const layers = {
  cli: ['api', 'base', 'errors', 'trace'],
  api: ['engine', 'blockdev', 'streams', 'repo', 'source', 'pool', 'format', 'io', 'trace', 'errors', 'base'],
  engine: ['repo', 'streams', 'blockdev', 'pool', 'source', 'format', 'io', 'trace', 'errors', 'base'],
  blockdev: ['format', 'io', 'pool', 'trace', 'errors', 'base'],
  streams: ['format', 'io', 'source', 'trace', 'errors', 'base'],
  repo: ['format', 'io', 'pool', 'trace', 'errors', 'base'],
  source: ['format', 'io', 'trace', 'errors', 'base'],
  pool: ['io', 'trace', 'errors', 'base'],
  format: ['errors', 'base'],
  io: ['trace', 'errors', 'base'],
  trace: ['errors', 'base'],
  errors: ['base'],
  base: [],
};

const forbidden = Object.entries(layers).map(([layer, allowed]) => ({
  name: `layer-${layer}`,
  comment: `src/${layer}/ may import only: ${allowed.join(', ') || 'nothing of holdfast'}`,
  severity: 'error',
  from: { path: `^src/${layer}/` },
  to: { path: '^src/([^/]+)/', pathNot: [`^src/(${[layer, ...allowed, 'test-support'].join('|')})/`] },
}));

forbidden.push(
  {
    name: 'backend-is-leaf',
    comment: 'repo/backend/ never imports the rest of repo/',
    severity: 'error',
    from: { path: '^src/repo/backend/' },
    to: { path: '^src/repo/', pathNot: '^src/repo/backend/' },
  },
  {
    name: 'test-support-in-tests-only',
    comment: 'src/test-support/ serves tests; production code never imports it',
    severity: 'error',
    from: { path: '^src/', pathNot: ['\\.test\\.ts$', '^src/test-support/'] },
    to: { path: '^src/test-support/' },
  },
  {
    name: 'simulator-in-tests-only',
    comment: 'io/sim is for tests; production code uses the Io interface',
    severity: 'error',
    from: { path: '^src/', pathNot: ['\\.test\\.ts$', '/test-support/', '^src/io/sim/'] },
    to: { path: '^src/io/sim/' },
  },
  { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
);

module.exports = {
  forbidden,
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
