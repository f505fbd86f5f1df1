// @ts-check
'use strict';

/*
 * Starts a real Mashroom Server with this package, from the working tree.
 *
 *   node demo/start.js [server root folder]     (default: this folder)
 *
 * Environment: PORT (default 5050; 0 picks a free port), HOST (default 127.0.0.1: loopback only).
 * Once every plugin is loaded it prints a line starting with READY and the URL of the test page.
 */

const net = require('net');
const {resolve} = require('path');

const serverRoot = resolve(process.argv[2] || __dirname);
const host = process.env.HOST || '127.0.0.1';
const PLUGIN_LOAD_TIMEOUT_MS = 60_000;

// Mashroom 2.8.1 has no setting for the listen address and listens on every interface: give its
// listen(port, callback) call our host, and remember the server to report the port it got.
/** @type {net.Server | null} */
let httpServer = null;
const originalListen = net.Server.prototype.listen;
/** @type {(this: net.Server, ...args: Array<unknown>) => net.Server} */
const listenOnHost = function (...args) {
    if (typeof args[0] === 'number' && (args.length === 1 || typeof args[1] === 'function')) {
        args.splice(1, 0, host);
        httpServer = this;
    }
    return Reflect.apply(originalListen, this, args);
};
net.Server.prototype.listen = /** @type {typeof originalListen} */ (/** @type {unknown} */ (listenOnHost));

/**
 * @param {{getPlugins(): ReadonlyArray<{name: string; status: string}>}} pluginService
 * @returns {Promise<void>}
 */
const allPluginsLoaded = async (pluginService) => {
    const deadline = Date.now() + PLUGIN_LOAD_TIMEOUT_MS;
    for (;;) {
        const plugins = pluginService.getPlugins();
        const ours = plugins.filter((plugin) => plugin.name.startsWith('Mashroom WebSocket'));
        if (ours.length === 2 && plugins.every((plugin) => plugin.status === 'loaded')) {
            return;
        }
        if (Date.now() > deadline) {
            const notLoaded = plugins.filter((plugin) => plugin.status !== 'loaded').map((plugin) => `${plugin.name} (${plugin.status})`);
            throw new Error(`Plugins not loaded after ${PLUGIN_LOAD_TIMEOUT_MS / 1000}s: ${notLoaded.join(', ') || 'the WebSocket plugins were not found'}`);
        }
        await new Promise((done) => setTimeout(done, 100));
    }
};

const main = async () => {
    process.chdir(serverRoot);
    const {mashroomServerContextFactory} = require('@mashroom/mashroom');
    const context = await mashroomServerContextFactory(serverRoot);
    await context.server.start();
    await allPluginsLoaded(context.pluginContextHolder.getPluginContext().services.core.pluginService);

    const address = /** @type {net.Server} */ (httpServer).address();
    const port = typeof address === 'object' && address ? address.port : Number(process.env.PORT);
    const displayHost = host === '127.0.0.1' || host === '0.0.0.0' || host === '::' ? 'localhost' : host;
    process.stdout.write(`READY http://${displayHost}:${port}/websocket/test\n`);

    // As Mashroom's own launcher stops: at once on SIGINT, on SIGTERM after WAIT_BEFORE_SERVER_CLOSE seconds (the
    // WebSocket plugin drains its clients on the same signals); the server exits once its connections have ended
    let stopping = false;
    const stop = () => {
        if (!stopping) {
            stopping = true;
            context.server.stop().catch(() => process.exit(1));
        }
    };
    const waitSec = Number.parseInt(process.env.WAIT_BEFORE_SERVER_CLOSE ?? '', 10);
    process.on('SIGINT', stop);
    process.on('SIGTERM', () => (waitSec > 0 ? setTimeout(stop, waitSec * 1000) : stop()));
};

main().catch((error) => {
    process.stderr.write(`Starting the demo server failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
});
