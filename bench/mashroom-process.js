// @ts-check
'use strict';

/*
 * A real Mashroom Server (2.8.1, security with the simple provider, memory sessions, the default login webapp,
 * storage with the file store, i18n, browser cache, messaging 2.7.1) with one WebSocket package, in a child process
 * of its own (demo/start.js <root folder>), with a generated mashroom.json in its root folder; and the login of
 * the benchmark's user through the default login webapp. Shared by bench/mashroom-connect.js and bench/drain.js.
 */

const {spawn} = require('child_process');
const fs = require('fs');
const fsp = require('fs/promises');
const os = require('os');
const {join, resolve} = require('path');
const {performance} = require('perf_hooks');

const ROOT = resolve(__dirname, '..');
const DEMO = join(ROOT, 'demo');
const MASHROOM = join(ROOT, 'node_modules/@mashroom');
/** The plugin packages of every server besides its WebSocket package (unless allMashroom) */
const PLUGIN_PACKAGES = [
    'mashroom-security',
    'mashroom-security-provider-simple',
    'mashroom-security-default-login-webapp',
    'mashroom-session',
    'mashroom-storage',
    'mashroom-storage-provider-filestore',
    'mashroom-i18n',
    'mashroom-browser-cache',
    'mashroom-messaging',
];
/** The user every benchmark logs in as (password = user name, demo/users.json) */
const USER = 'john';
const START_TIMEOUT_MS = 120_000;

const now = () => performance.now();
const sleep = (/** @type {number} */ ms) => new Promise((done) => setTimeout(done, ms));

// Mashroom's built-in default log config (when a server has none), with the given level
const logConfig = (/** @type {string} */ level) => ({
    appenders: {
        file: {type: 'file', filename: 'log/mashroom.log', maxLogSize: 10485760, numBackups: 3, layout: {type: 'pattern', pattern: '%d %p %X{clientIP} %X{username} %c - %m'}},
        console: {type: 'console', layout: {type: 'colored'}},
    },
    categories: {default: {appenders: ['file', 'console'], level}},
});

/** @typedef {{name: string, packageFolder: string}} Candidate */

/**
 * @typedef {{
 *   logLevel?: string,
 *   allMashroom?: boolean,
 *   inspect?: boolean,
 *   keep?: boolean,
 *   root?: string,
 *   tempPrefix?: string,
 *   title?: string,
 *   websocket?: Record<string, unknown>,
 *   extraPluginFolders?: Array<string>,
 *   nodeArgs?: Array<string>,
 *   env?: Record<string, string>,
 *   outFile?: string,
 * }} ServerOptions
 *
 * - logLevel: log4js level (default info); the appenders of Mashroom's default config (log/mashroom.log, and the
 *   colored console, which goes to the output file)
 * - allMashroom: every package of node_modules/@mashroom (the Portal too), not only PLUGIN_PACKAGES
 * - inspect: the inspector on a free loopback port (Server.inspectorUrl)
 * - keep: leave the root folder in the temp folder on stop
 * - root: an existing root folder to start in (a restart on the same folder); the caller removes it. Default: a new
 *   temp folder named <tempPrefix><candidate>-..., removed on stop unless keep
 * - websocket: the config of 'Mashroom WebSocket Webapp' (default: {maxConnections: 1000000, maxConnectionsPerUser: null},
 *   room for every client of the one user who connects them)
 * - extraPluginFolders: further plugin package folders (such as a fixture plugin)
 * - nodeArgs, env: Node.js arguments and environment of the server process (besides this process's environment)
 * - outFile: the file in the root folder that takes the server's stdout and stderr (default server.out)
 */

/**
 * @typedef {{
 *   candidate: Candidate, root: string, pid: number, port: number, cookie: string, inspectorUrl: string | null,
 *   output(): string,
 *   exited: Promise<{at: number, code: number | null, signal: NodeJS.Signals | null}>,
 *   kill(signal: NodeJS.Signals): void,
 *   stop(): Promise<void>,
 * }} Server
 *
 * - output: everything the server printed so far
 * - exited: resolves when the process has exited, `at` being performance.now() of this process then
 * - stop: SIGINT (SIGKILL after 10 s), then the root folder is removed if it is ours (see ServerOptions.root)
 */

/**
 * A real Mashroom Server with the candidate's package, through demo/start.js; resolves once it is READY and the
 * benchmark's user is logged in (Server.cookie)
 * @param {Candidate} candidate
 * @param {ServerOptions} [options]
 * @returns {Promise<Server>}
 */
const startServer = async (candidate, options = {}) => {
    const ownsRoot = !options.root;
    const root = options.root ?? await fsp.mkdtemp(join(os.tmpdir(), `${options.tempPrefix ?? 'mashroom-bench-'}${candidate.name.replace(/\W/g, '_')}-`));
    await Promise.all(['users.json', 'acl.json', 'topicACL.json'].map((file) => fsp.copyFile(join(DEMO, file), join(root, file))));
    await fsp.writeFile(join(root, 'log4js.json'), JSON.stringify(logConfig(options.logLevel ?? 'info'), null, 2));
    await fsp.writeFile(join(root, 'mashroom.json'), JSON.stringify({
        name: `${options.title ?? 'Mashroom benchmark'} (${candidate.name})`,
        port: 0,
        pluginPackageFolders: [
            {path: candidate.packageFolder},
            ...(options.allMashroom ? [{path: MASHROOM}] : PLUGIN_PACKAGES.map((name) => ({path: join(MASHROOM, name)}))),
            ...(options.extraPluginFolders ?? []).map((path) => ({path})),
        ],
        plugins: {
            'Mashroom Session Middleware': {provider: 'memory', session: {secret: 'mashroom-connect-bench-secret'}},
            'Mashroom Security Services': {provider: 'Mashroom Security Simple Provider', acl: './acl.json'},
            'Mashroom Security Simple Provider': {users: './users.json', loginPage: '/login'},
            'Mashroom Storage Services': {provider: 'Mashroom Storage Filestore Provider'},
            'Mashroom Storage Filestore Provider': {dataFolder: './data/storage'},
            'Mashroom Messaging Services': {topicACL: './topicACL.json'},
            // The default config of both, but room for every client of the largest N (the default is 2000)
            'Mashroom WebSocket Webapp': options.websocket ?? {maxConnections: 1_000_000, maxConnectionsPerUser: null},
        },
    }, null, 2));

    const outFile = join(root, options.outFile ?? 'server.out');
    const out = fs.openSync(outFile, 'w');
    const nodeArgs = [...(options.inspect ? ['--inspect=127.0.0.1:0'] : []), ...(options.nodeArgs ?? [])];
    /** @type {Record<string, string | undefined>} */
    const env = {...process.env, ...options.env, PORT: '0', HOST: '127.0.0.1', NODE_ENV: 'production'};
    const child = spawn(process.execPath, [...nodeArgs, join(DEMO, 'start.js'), root], {env, stdio: ['ignore', out, out]});
    fs.closeSync(out);
    let hasExited = false;
    /** @type {Server['exited']} */
    const exited = new Promise((done) => child.once('exit', (code, signal) => {
        hasExited = true;
        done({at: now(), code, signal});
    }));
    const output = () => fs.readFileSync(outFile, 'utf8');
    const stop = async () => {
        if (!hasExited) {
            child.kill('SIGINT');
            const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
            await exited;
            clearTimeout(killer);
        }
        if (ownsRoot && !options.keep) {
            await fsp.rm(root, {recursive: true, force: true});
        }
    };

    const deadline = Date.now() + START_TIMEOUT_MS;
    /** @type {RegExpExecArray | null} */
    let ready = null;
    while (!(ready = /READY http:\/\/localhost:(\d+)\//.exec(output()))) {
        if (hasExited || Date.now() > deadline) {
            const text = output();
            await stop();
            throw new Error(`The server of ${candidate.name} ${hasExited ? 'exited' : 'did not start in time'}:\n${text.slice(-4000)}`);
        }
        await sleep(100);
    }
    const port = Number(ready[1]);
    const inspector = /Debugger listening on (ws:\/\/\S+)/.exec(output());
    if (child.pid === undefined) {
        throw new Error(`The server of ${candidate.name} has no pid`);
    }
    try {
        const cookie = await login(port);
        return {
            candidate, root, pid: child.pid, port, cookie, inspectorUrl: inspector ? inspector[1] : null, output, exited,
            kill: (signal) => {
                if (!hasExited) {
                    child.kill(signal);
                }
            },
            stop,
        };
    } catch (error) {
        await stop();
        throw error;
    }
};

/**
 * Log in through the default login webapp; resolves to the Cookie header of the session
 * @param {number} port
 */
const login = async (port) => {
    const response = await fetch(`http://127.0.0.1:${port}/login`, {
        method: 'POST',
        headers: {'content-type': 'application/x-www-form-urlencoded'},
        body: new URLSearchParams({_username: USER, _password: USER}).toString(),
        redirect: 'manual',
    });
    const cookies = response.headers.getSetCookie().map((cookie) => cookie.split(';')[0]);
    if (response.status !== 302 || cookies.length === 0) {
        throw new Error(`Login of ${USER} on port ${port} failed: HTTP ${response.status}`);
    }
    return cookies.join('; ');
};

module.exports = {ROOT, DEMO, MASHROOM, PLUGIN_PACKAGES, USER, now, sleep, logConfig, startServer, login};
