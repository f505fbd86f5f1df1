// @ts-check
'use strict';

/*
 * One benchmark server process: runs the candidate named on the command line and does what the
 * coordinator asks over IPC. Started with --expose-gc for the memory figures.
 */

const {performance, PerformanceObserver} = require('perf_hooks');

// Time spent in garbage collection, to report it per workload
let gcMs = 0;
new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
        gcMs += entry.duration;
    }
}).observe({entryTypes: ['gc']});
const {CANDIDATES} = require('./candidates');

const now = () => performance.timeOrigin + performance.now();

/** @param {unknown} message */
const reply = (message) => {
    if (process.send) {
        process.send(message);
    }
};

const collectGarbage = () => {
    const gc = /** @type {(() => void) | undefined} */ (global.gc);
    if (!gc) {
        throw new Error('Start with --expose-gc');
    }
    gc();
    gc();
};

/** @param {number} k */
const benchMessage = (k) => ({type: 'bench', seq: k, payload: 'x'.repeat(64)});

const main = async () => {
    const name = process.argv[2];
    const create = CANDIDATES[name];
    if (!create) {
        throw new Error(`Unknown candidate ${name}`);
    }
    const candidate = await create();
    await new Promise((done) => candidate.httpServer.listen(0, '127.0.0.1', () => done(undefined)));
    const address = candidate.httpServer.address();
    reply({ready: true, port: typeof address === 'object' && address ? address.port : 0});

    process.on('message', async (/** @type {any} */ command) => {
        switch (command.cmd) {
            case 'memory': {
                collectGarbage();
                const {rss, heapUsed} = process.memoryUsage();
                reply({id: command.id, rss, heapUsed});
                break;
            }
            case 'fanOutBurst': {
                const messages = Array.from({length: command.rounds}, (_, k) => benchMessage(k));
                const gcBefore = gcMs;
                const start = now();
                candidate.fanOutBurst(command.path, messages);
                const loopMs = now() - start;
                // Let the writes finish before reading the GC time
                setTimeout(() => reply({id: command.id, start, loopMs, gcMs: gcMs - gcBefore}), 0);
                break;
            }
            case 'fanOutAwait': {
                const gcBefore = gcMs;
                const start = now();
                for (let k = 0; k < command.rounds; k++) {
                    await candidate.fanOut(command.path, benchMessage(k));
                }
                const loopMs = now() - start;
                // GC entries reach the observer a little later
                setTimeout(() => reply({id: command.id, start, loopMs, gcMs: gcMs - gcBefore}), 0);
                break;
            }
            case 'stop':
                process.exit(0);
                break;
            default:
                throw new Error(`Unknown command ${command.cmd}`);
        }
    });
};

main().catch((error) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
});
