import {createServer} from 'http';
import type {AddressInfo, Socket} from 'net';
import {mkdtemp, rm} from 'fs/promises';
import {tmpdir} from 'os';
import {join} from 'path';
import express from 'express';
import type {Application} from 'express';
import type {IncomingMessageWithContext, MashroomHttpUpgradeHandler} from '@mashroom/mashroom/type-definitions';
import type {MashroomWebSocketService} from '../../type-definitions';
import webAppBootstrap from '../../src/webapp/mashroom-bootstrap-webapp';
import servicesBootstrap from '../../src/services/mashroom-bootstrap-services';
import {currentServer} from '../../src/server/server-slot';
import type {MashroomWebSocketServer} from '../../src/server/websocket-server';
import {TestPluginContext} from './test-plugin-context';
import packageJson from '../../package.json';
import type {TestContextOptions} from './test-plugin-context';

export const WEBAPP_PLUGIN = 'Mashroom WebSocket Webapp';
export const SERVICES_PLUGIN = 'Mashroom WebSocket Services';

/** The defaultConfig of the plugin definition, which Mashroom merges under the server's config */
export const DEFAULT_CONFIG: Readonly<Record<string, unknown>> = {
    ...packageJson.mashroom.plugins.find((plugin) => plugin.name === WEBAPP_PLUGIN)?.defaultConfig,
};

export type TestServerOptions = {
    readonly config?: Record<string, unknown>;
    readonly context?: Omit<TestContextOptions, 'serverRootFolder'>;
};

export type TestServer = {
    readonly port: number;
    /** ws://127.0.0.1:port */
    readonly wsOrigin: string;
    /** http://127.0.0.1:port */
    readonly httpOrigin: string;
    readonly rootFolder: string;
    readonly context: TestPluginContext;
    /** The service of the plugins loaded now */
    readonly service: MashroomWebSocketService;
    /** The server of the plugins loaded now */
    readonly server: MashroomWebSocketServer;
    /** Fire the plugins' unload listeners, as Mashroom does before unloading them, and wait for the shutdown */
    unloadPlugins(): Promise<void>;
    /**
     * What Mashroom's dev mode does on a rebuild: unload both plugins, forget the package's modules, require
     * them afresh and bootstrap both plugins again.
     */
    reloadPlugins(): Promise<void>;
    /** Unload and stop listening; removes the temp folder */
    stop(): Promise<void>;
};

type PluginModules = {
    readonly webApp: typeof webAppBootstrap;
    readonly services: typeof servicesBootstrap;
    readonly currentServer: typeof currentServer;
};

type LoadedPlugins = {
    readonly expressApp: Application;
    readonly upgradeHandler: MashroomHttpUpgradeHandler;
    readonly server: MashroomWebSocketServer;
    readonly service: MashroomWebSocketService;
    unloaded: Promise<void> | null;
};

/** The plugin modules as a fresh require after the module cache was cleared would give them */
const freshModules = (): PluginModules => {
    let modules: PluginModules | null = null;
    jest.isolateModules(() => {
        /* eslint-disable @typescript-eslint/no-require-imports */
        modules = {
            webApp: (require('../../src/webapp/mashroom-bootstrap-webapp') as {default: typeof webAppBootstrap}).default,
            services: (require('../../src/services/mashroom-bootstrap-services') as {default: typeof servicesBootstrap}).default,
            currentServer: (require('../../src/server/server-slot') as {currentServer: typeof currentServer}).currentServer,
        };
    });
    if (!modules) {
        throw new Error('isolateModules did not run');
    }
    return modules;
};

const loadPlugins = async (modules: PluginModules, config: Record<string, unknown>, context: TestPluginContext): Promise<LoadedPlugins> => {
    const {expressApp, upgradeHandler} = await modules.webApp(WEBAPP_PLUGIN, config, context) as {expressApp: Application; upgradeHandler: MashroomHttpUpgradeHandler};
    const server = modules.currentServer();
    if (!server) {
        throw new Error('The webapp bootstrap installed no server');
    }
    const services = await modules.services(SERVICES_PLUGIN, {}, context);
    context.services.websocket = services;
    return {expressApp, upgradeHandler, server, service: services.service as MashroomWebSocketService, unloaded: null};
};

/**
 * The plugin bootstrapped the way Mashroom bootstraps it, behind a plain HTTP server wired like Mashroom's:
 * the webapp's Express app mounted at its path, its upgrade handler called for URLs matching `^path`
 * with the plugin context on the request, 403 for other upgrades.
 */
export const startTestServer = async (options: TestServerOptions = {}): Promise<TestServer> => {
    const rootFolder = await mkdtemp(join(tmpdir(), 'mashroom-websocket-test-'));
    const context = new TestPluginContext({serverRootFolder: rootFolder, ...options.context});
    const config = {...DEFAULT_CONFIG, ...options.config};
    let loaded = await loadPlugins({webApp: webAppBootstrap, services: servicesBootstrap, currentServer}, config, context);

    const app = express();
    app.use(String(config.path), (request, response, next) => loaded.expressApp(request, response, next));
    const httpServer = createServer(app);
    const pathExpression = new RegExp(`^${String(config.path)}`);
    httpServer.on('upgrade', (request: IncomingMessageWithContext, socket, head) => {
        if (request.url && pathExpression.test(request.url)) {
            request.pluginContext = context.getPluginContext();
            loaded.upgradeHandler(request, socket as Socket, head);
        } else {
            socket.end('HTTP/1.1 403 Forbidden\r\n\r\n', 'ascii');
        }
    });
    await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
    const {port} = httpServer.address() as AddressInfo;

    const unloadPlugins = (): Promise<void> => {
        if (!loaded.unloaded) {
            context.pluginService.fireUnload(SERVICES_PLUGIN);
            context.pluginService.fireUnload(WEBAPP_PLUGIN);
            loaded.unloaded = loaded.server.dispose();
        }
        return loaded.unloaded;
    };

    return {
        port,
        wsOrigin: `ws://127.0.0.1:${port}`,
        httpOrigin: `http://127.0.0.1:${port}`,
        rootFolder,
        context,
        get service() {
            return loaded.service;
        },
        get server() {
            return loaded.server;
        },
        unloadPlugins,
        reloadPlugins: async () => {
            // Mashroom does not wait for the old instance to shut down before it bootstraps the new one
            const oldShutdown = unloadPlugins();
            loaded = await loadPlugins(freshModules(), config, context);
            await oldShutdown;
        },
        stop: async () => {
            await unloadPlugins();
            context.dispose();
            httpServer.closeAllConnections();
            await new Promise<void>((resolve) => httpServer.close(() => resolve()));
            await rm(rootFolder, {recursive: true, force: true});
        },
    };
};
