/**
 * The Node.js lines the proxy runs on (package.json "engines"), checked before any other module
 * of the CLI runs: an older runtime gets a message that names the fix instead of a failure deep
 * inside a dependency. Imported first by main.ts, so ES module order evaluates it first.
 */
const MINIMUM = [22, 19] as const;

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < MINIMUM[0] || (major === MINIMUM[0] && minor < MINIMUM[1])) {
  process.stderr.write(
    `imap-cache-proxy: this is Node.js ${process.version} (${process.execPath}); it needs Node.js ${MINIMUM.join('.')} or newer (lines 22, 24, 26).\n` +
      'Start it as bin/imap-cache-proxy (it runs the Node.js that `npm ci` installs beside it), or put a newer node first on PATH.\n',
  );
  process.exit(2);
}
