// @ts-check
'use strict';

/*
 * One node of a test cluster, in a process of its own: the plugin (compiled, from dist/) bootstrapped as
 * Mashroom does it, with a small stand-in for Mashroom's session and security (the `session` cookie names the
 * user), behind a plain HTTP server on a free loopback port. The test drives it over IPC. Also a single server
 * whose own memory a test measures (`broadcast`, `memory`).
 *
 *   env REDIS_URL, KEY_PREFIX (optional), RECONNECT_TIMEOUT_SEC, CONFIG (JSON over the plugin's default config)
 */

const {createServer} = require('http');
const {mkdtempSync} = require('fs');
const {tmpdir} = require('os');
const {join, resolve} = require('path');

const root = resolve(__dirname, '../..');
const packageJson = require(join(root, 'package.json'));
const [webapp, services] = packageJson.mashroom.plugins;

/** @type {Array<{level: string, message: string}>} */
const logs = [];
/** @returns {any} */
const logger = () => {
    /** @param {string} level */
    const write = (level) => (/** @type {string} */ message) => {
        logs.push({level, message});
    };
    const self = {debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error'),
        addContext() {}, withContext: () => self, getContext: () => ({})};
    return self;
};
const loggerFactory = Object.assign(() => logger(), {bindToContext: () => loggerFactory});

/** @type {Record<string, {username: string, displayName: string | null, roles: Array<string>}>} */
const users = {
    alice: {username: 'alice', displayName: 'Alice', roles: []},
    bob: {username: 'bob', displayName: 'Bob', roles: []},
};
/** @type {Map<string, Array<() => void>>} */
const unloadListeners = new Map();
const context = {
    serverInfo: {version: 'test', devMode: false},
    serverConfig: {serverRootFolder: mkdtempSync(join(tmpdir(), 'mashroom-websocket-node-'))},
    loggerFactory,
    services: {
        core: {
            pluginService: {
                /** @param {string} name @param {() => void} listener */
                onUnloadOnce: (name, listener) => unloadListeners.set(name, [...(unloadListeners.get(name) ?? []), listener]),
                onLoadedOnce() {},
            },
            middlewareStackService: {
                has: () => true,
                /** @param {string} name @param {any} request */
                apply: async (name, request) => {
                    const match = /(?:^|;\s*)session=token-(\w+)/.exec(request.headers.cookie ?? '');
                    request.session = {user: match ? users[match[1]] : undefined};
                },
            },
        },
        security: {service: {getUser: (/** @type {any} */ request) => request.session?.user ?? null}},
        /** @type {any} */
        websocket: undefined,
    },
};
const holder = {getPluginContext: () => context};

/** @param {string} file */
const bootstrapOf = (file) => {
    const loaded = require(resolve(root, file));
    return loaded.default ?? loaded;
};

const main = async () => {
    const config = {
        ...webapp.defaultConfig,
        reconnectTimeoutSec: Number(process.env.RECONNECT_TIMEOUT_SEC ?? 10),
        ...(process.env.REDIS_URL ? {reconnectMessageBufferRedis: {url: process.env.REDIS_URL, keyPrefix: process.env.KEY_PREFIX}} : {}),
        ...JSON.parse(process.env.CONFIG ?? '{}'),
    };
    const {expressApp, upgradeHandler} = await bootstrapOf(webapp.bootstrap)(webapp.name, config, holder);
    const {service} = await bootstrapOf(services.bootstrap)(services.name, {}, holder);
    context.services.websocket = {service};

    /** @type {Array<string>} */
    const disconnected = [];
    service.addDisconnectListener((/** @type {any} */ client) => {
        disconnected.push(client.clientId);
    });

    const http = createServer(expressApp);
    http.on('upgrade', (request, socket, head) => {
        /** @type {any} */ (request).pluginContext = context;
        upgradeHandler(request, socket, head);
    });
    await new Promise((done) => http.listen(0, '127.0.0.1', () => done(undefined)));
    const address = http.address();

    /** @param {string} clientId */
    const clientById = (clientId) => ['alice', 'bob'].flatMap((user) => service.getClientsOfUser(user))
        .find((/** @type {any} */ client) => client.clientId === clientId);

    process.on('message', async (/** @type {any} */ command) => {
        /** @param {object} answer */
        const reply = (answer) => process.send?.({id: command.id, ...answer});
        try {
            switch (command.cmd) {
                case 'send': {
                    const client = clientById(command.clientId);
                    if (!client) {
                        reply({error: 'no such client'});
                        break;
                    }
                    await service.sendMessage(client, command.message);
                    reply({});
                    break;
                }
                case 'clients':
                    reply({clients: ['alice', 'bob'].flatMap((user) => service.getClientsOfUser(user))
                        .map((/** @type {any} */ client) => ({clientId: client.clientId, alive: client.alive, username: client.user.username}))});
                    break;
                case 'broadcast': {
                    // `count` messages of `bytes` each to every client on `path`, one turn each, every client's its own
                    // object (as a publisher that builds one per subscriber would); answers the highest resident set
                    // size of the process and the most the server held for its clients after a turn, and how many
                    // sends were accepted and refused
                    const text = 'b'.repeat(command.bytes);
                    let accepted = 0;
                    let refused = 0;
                    let peakRss = 0;
                    let peakHeld = 0;
                    const server = require(join(root, 'dist/server/server-slot')).currentServer();
                    for (let n = 0; n < command.count; n++) {
                        for (const client of service.getClientsOnPath(command.path)) {
                            service.sendMessage(client, {n, text}).then(() => accepted++, () => refused++);
                        }
                        await new Promise((done) => setImmediate(done));
                        peakRss = Math.max(peakRss, process.memoryUsage.rss());
                        peakHeld = Math.max(peakHeld, server.heldBytes);
                    }
                    reply({accepted, refused, peakRss, peakHeld});
                    break;
                }
                case 'memory':
                    // And what the server counts against its memory budget
                    reply({memory: process.memoryUsage(), held: require(join(root, 'dist/server/server-slot')).currentServer()?.heldBytes});
                    break;
                case 'disconnected':
                    reply({disconnected});
                    break;
                case 'logs':
                    reply({logs});
                    break;
                case 'stop': {
                    // As Mashroom unloads the plugins; then wait for the server to have closed everything
                    const server = require(join(root, 'dist/server/server-slot')).currentServer();
                    unloadListeners.forEach((listeners) => listeners.forEach((listener) => listener()));
                    await server?.dispose();
                    http.closeAllConnections();
                    http.close(() => {
                        reply({});
                        process.exit(0);
                    });
                    break;
                }
                default:
                    reply({error: `unknown command ${command.cmd}`});
            }
        } catch (error) {
            reply({error: String(error)});
        }
    });
    process.send?.({ready: true, port: typeof address === 'object' && address ? address.port : 0});
};

main().catch((error) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
});
