// @ts-check
'use strict';

/*
 * Runs Jest with open handle detection and fails the run if any handle is left open: a timer, socket or
 * file handle that outlives a test means something outlived the plugin. (Jest itself only reports them,
 * and without --forceExit it would wait for them forever.)
 */

const {spawn} = require('child_process');

const jest = spawn(process.execPath, [require.resolve('jest/bin/jest'), '--detectOpenHandles', '--forceExit', ...process.argv.slice(2)], {
    stdio: ['inherit', 'inherit', 'pipe'],
});
let errorOutput = '';
jest.stderr?.on('data', (chunk) => {
    process.stderr.write(chunk);
    errorOutput += chunk.toString();
});
jest.on('exit', (code, signal) => {
    if (/Jest has detected the following \d+ open handles?/.test(errorOutput)) {
        process.stderr.write('\nFailing the test run: handles were left open (see above).\n');
        process.exit(1);
    }
    process.exit(code ?? (signal ? 1 : 0));
});
