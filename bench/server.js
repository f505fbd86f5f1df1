// @ts-check
'use strict';

/*
 * One benchmark server process: runs the candidate named on the command line and does what the
 * coordinator asks over IPC. Started with --expose-gc for the memory figures.
 */

const {performance, PerformanceObserver} = require('perf_hooks');

// Time spent in garbage collection, to report it per workload
let gcMs = 0;
/** @type {Record<string, {count: number, ms: number}>} */
const gcKinds = {};
new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
        gcMs += entry.duration;
        const kind = String(/** @type {any} */ (entry).detail?.kind);
        gcKinds[kind] ??= {count: 0, ms: 0};
        gcKinds[kind].count++;
        gcKinds[kind].ms += entry.duration;
    }
}).observe({entryTypes: ['gc']});
// BENCH_GC_DETAIL=1: report the collections by kind, of the whole process at its end and of each echo run
if (process.env.BENCH_GC_DETAIL) {
    process.on('exit', () => process.stderr.write(`${process.argv[2]} GC by kind (1 minor, 2 major, 4 incremental, 8 weak): ${JSON.stringify(gcKinds)}\n`));
}
const {CANDIDATES} = require('./candidates');

const now = () => performance.timeOrigin + performance.now();

/*
 * BENCH_PROFILE_DIR=<folder>: write a CPU profile of each fan-out workload alone (not of the connects or the
 * warm-up) into that folder, for finding where the time goes.
 */
const profileDir = process.env.BENCH_PROFILE_DIR;
/** @type {import('inspector').Session | null} */
let inspectorSession = null;
// Numbers the profiles of one process, so that each turn's is kept
let profileCount = 0;
const post = (/** @type {string} */ method, /** @type {object} */ params = {}) => new Promise((resolve, reject) => {
    inspectorSession?.post(method, params, (error, result) => (error ? reject(error) : resolve(result)));
});
// BENCH_PROFILE_KIND=allocations: sample allocations (also of objects already collected) instead of CPU time
const allocations = process.env.BENCH_PROFILE_KIND === 'allocations';
const startProfile = async () => {
    if (!profileDir) {
        return;
    }
    const inspector = require('inspector');
    inspectorSession = new inspector.Session();
    inspectorSession.connect();
    if (allocations) {
        await post('HeapProfiler.enable');
        await post('HeapProfiler.startSampling', {samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true});
    } else {
        await post('Profiler.enable');
        // Every 100 µs rather than every millisecond: an echo run lasts well under a second (the sampling adds
        // to the CPU time the echo reports, so profile runs are for finding where the time goes, not for figures)
        await post('Profiler.setSamplingInterval', {interval: 100});
        await post('Profiler.start');
    }
};
const stopProfile = async (/** @type {string} */ name) => {
    if (!inspectorSession || !profileDir) {
        return;
    }
    const {profile} = /** @type {{profile: object}} */ (await post(allocations ? 'HeapProfiler.stopSampling' : 'Profiler.stop'));
    const suffix = allocations ? 'heapprofile' : 'cpuprofile';
    profileCount++;
    require('fs').writeFileSync(require('path').join(profileDir, `${process.argv[2].replace(/\W/g, '_')}-${name}-${process.pid}-${profileCount}.${suffix}`), JSON.stringify(profile));
    inspectorSession.disconnect();
    inspectorSession = null;
};

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

/** @type {NodeJS.CpuUsage | undefined} */
let cpuAtStart;
let gcAtStart = 0;
/** @type {Record<string, {count: number, ms: number}>} */
let gcKindsAtStart = {};
let youngAtStart = 0;
// The size of V8's new space (the young generation: two semi-spaces) now; V8 resizes it by what the process did
// lately, and a small one means many more scavenges for the same work
const youngGenerationMiB = () => (require('v8').getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_size ?? 0) / 1048576;

const main = async () => {
    const name = process.argv[2];
    const create = CANDIDATES[name];
    if (!create) {
        throw new Error(`Unknown candidate ${name}`);
    }
    // A second argument 'buffered': with the reconnect buffer (the storm)
    const candidate = await create(process.argv[3] === 'buffered');
    await new Promise((done) => candidate.httpServer.listen(0, '127.0.0.1', () => done(undefined)));
    const address = candidate.httpServer.address();
    reply({ready: true, port: typeof address === 'object' && address ? address.port : 0});

    // The coordinator is gone (it crashed or was stopped): no server is left behind, listening on its core
    process.on('disconnect', () => process.exit(0));
    // The burst sends fire and forget (see candidates.js): a send that fails ends the run, saying so
    process.on('unhandledRejection', (reason) => {
        process.stderr.write(`${name}: a send failed, the run is void: ${reason instanceof Error ? reason.stack : String(reason)}\n`);
        process.exit(1);
    });
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
                await startProfile();
                const gcBefore = gcMs;
                const start = now();
                candidate.fanOutBurst(command.path, messages);
                const loopMs = now() - start;
                // Let the writes finish before reading the GC time
                setTimeout(async () => {
                    await stopProfile('burst');
                    reply({id: command.id, start, loopMs, gcMs: gcMs - gcBefore});
                }, 0);
                break;
            }
            case 'fanOutAwait': {
                await startProfile();
                const gcBefore = gcMs;
                const start = now();
                for (let k = 0; k < command.rounds; k++) {
                    await candidate.fanOut(command.path, benchMessage(k));
                }
                const loopMs = now() - start;
                // GC entries reach the observer a little later
                setTimeout(async () => {
                    await stopProfile('awaited');
                    reply({id: command.id, start, loopMs, gcMs: gcMs - gcBefore});
                }, 0);
                break;
            }
            case 'stormFill': {
                // Once every client of the path waits (the generator dropped them all), the messages to keep for it
                const storm = candidate.storm;
                if (!storm) {
                    throw new Error(`${name} has no reconnect buffer`);
                }
                const deadline = Date.now() + 30_000;
                while (storm.waiting(command.path) < command.count) {
                    if (Date.now() > deadline) {
                        throw new Error(`${name}: ${storm.waiting(command.path)} of ${command.count} clients waiting after 30 s`);
                    }
                    await new Promise((resolve) => setTimeout(resolve, 5));
                }
                await storm.sendEach(command.path, Array.from({length: command.perClient}, (_, k) => benchMessage(k)));
                reply({id: command.id});
                break;
            }
            case 'stormLive': {
                const start = now();
                await candidate.fanOut(command.path, benchMessage(command.perClient));
                reply({id: command.id, start});
                break;
            }
            case 'stormEnd': {
                candidate.storm?.closeAll(command.path);
                const deadline = Date.now() + 30_000;
                while (candidate.clientCount() > 0 && Date.now() < deadline) {
                    await new Promise((resolve) => setTimeout(resolve, 5));
                }
                reply({id: command.id, left: candidate.clientCount()});
                break;
            }
            case 'clientCount':
                reply({id: command.id, count: candidate.clientCount()});
                break;
            case 'profileStart':
                await startProfile();
                cpuAtStart = process.cpuUsage();
                gcAtStart = gcMs;
                gcKindsAtStart = structuredClone(gcKinds);
                youngAtStart = youngGenerationMiB();
                reply({id: command.id});
                break;
            case 'profileStop': {
                // The server's CPU time since profileStart (user + system), in ms
                const {user, system} = process.cpuUsage(cpuAtStart);
                await stopProfile(command.name);
                if (process.env.BENCH_GC_DETAIL) {
                    const during = Object.entries(gcKinds)
                        .map(([kind, {count, ms}]) => ({kind, count: count - (gcKindsAtStart[kind]?.count ?? 0), ms: ms - (gcKindsAtStart[kind]?.ms ?? 0)}))
                        .filter(({count}) => count > 0)
                        .map(({kind, count, ms}) => `${count} × kind ${kind} (${ms.toFixed(1)} ms)`);
                    process.stderr.write(`${process.argv[2]} ${command.name}: GC ${during.join(', ') || 'none'}; new space ${youngAtStart} MiB at start, ${youngGenerationMiB()} MiB at end\n`);
                }
                reply({id: command.id, cpuMs: (user + system) / 1000, gcMs: gcMs - gcAtStart});
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
