import {resolve} from 'path';
import type {MashroomWebAppPluginBootstrapFunction} from '@mashroom/mashroom/type-definitions';
import {RedisReconnectBufferStore} from '../buffer/redis-reconnect-buffer-store';
import type {ReconnectBufferStore} from '../buffer/reconnect-buffer-store';
import {parseWebAppConfig} from '../config/webapp-config';
import {registerConnectionMetrics} from '../metrics/connection-metrics';
import {registerHealthProbe} from './health-probe';
import {installServer, uninstallServer} from '../server/server-slot';
import {MashroomWebSocketServer} from '../server/websocket-server';
import {openFileStore} from './buffer-store-setup';
import {drainOnSignals} from './drain-on-signals';
import {createExpressApp} from './express-app';
import {createUpgradeHandler} from './upgrade-handler';

/** How often dead peers are looked for; a peer is cut off after missing one ping */
export const PING_INTERVAL_MS = 30_000;
/** How long unload waits for a client to complete the closing handshake */
export const CLOSE_GRACE_MS = 1_000;
/** How soon after sending a client is pinged for an acknowledgement (with reconnect buffering on) */
export const ACK_DELAY_MS = 50;
/** How long a connection may take to answer a ping when another one asks to resume its client */
export const RESUME_PROBE_TIMEOUT_MS = 1_000;
/** How long a drain may take to store the buffers (a termination grace period is typically 10 s or more) */
export const DRAIN_TIMEOUT_MS = 5_000;

const bootstrap: MashroomWebAppPluginBootstrapFunction = async (pluginName, pluginConfig, contextHolder) => {
    const config = parseWebAppConfig(pluginConfig);
    const {loggerFactory, serverConfig, services} = contextHolder.getPluginContext();
    const logger = loggerFactory('mashroom.websocket.server');

    // Installed before the first await: the services plugin, bootstrapped right after us on a reload, finds it
    const server = new MashroomWebSocketServer({
        basePath: config.path,
        maxConnections: config.maxConnections,
        maxConnectionsPerUser: config.maxConnectionsPerUser,
        maxMessageSizeBytes: config.maxMessageSizeBytes,
        incomingMessagesPerSec: config.incomingMessagesPerSec,
        incomingMessagesBurst: config.incomingMessagesBurst,
        maxUnsentBytesPerClient: config.maxUnsentBytesPerClient,
        reconnectBufferMaxBytes: config.reconnectMessageBufferMaxBytes,
        reconnectBufferMaxTotalBytes: config.reconnectMessageBufferMaxTotalBytes,
        memoryBudgetBytes: config.memoryBudgetBytes,
        reconnectTimeoutMs: config.reconnectTimeoutSec * 1000,
        keepAliveIntervalMs: config.enableKeepAlive ? config.keepAliveIntervalSec * 1000 : null,
        pingIntervalMs: PING_INTERVAL_MS,
        closeGraceMs: CLOSE_GRACE_MS,
        ackDelayMs: ACK_DELAY_MS,
        resumeProbeTimeoutMs: RESUME_PROBE_TIMEOUT_MS,
        drainTimeoutMs: DRAIN_TIMEOUT_MS,
        clientIdCookie: config.clientIdCookie,
        trustForwardedHeaders: config.trustForwardedHeaders,
        loggerFactory,
    });
    installServer(server);
    const stopMetrics = registerConnectionMetrics(contextHolder, () => server.getClientCount(), logger);
    const stopProbe = registerHealthProbe(pluginName, contextHolder, server);
    const stopSignals = drainOnSignals(() => server.dispose(), logger);
    let stopOpening: () => void = () => undefined;
    services.core.pluginService.onUnloadOnce(pluginName, () => {
        stopMetrics();
        stopProbe();
        stopSignals();
        stopOpening();
        uninstallServer(server);
        server.dispose().catch((error: unknown) => logger.error('Shutting down the WebSocket server failed', error));
    });
    // A store that is ready only after the server stopped is let go at once
    const use = (store: ReconnectBufferStore): void => {
        if (server.stopped) {
            store.close().catch((error: unknown) => logger.error('Releasing the reconnect buffer store failed', error));
        } else {
            server.useBufferStore(store);
        }
    };

    const buffering = config.reconnectMessageBufferRedis !== null || config.reconnectMessageBufferFolder !== null;
    if (buffering && config.maxUnsentBytesPerClient * 4 > config.reconnectMessageBufferMaxBytes) {
        logger.warn(`maxUnsentBytesPerClient (${config.maxUnsentBytesPerClient}) is more than a quarter of reconnectMessageBufferMaxBytes (${config.reconnectMessageBufferMaxBytes}): a client closed as too slow may not fit into its reconnect buffer and then cannot resume`);
    }
    if (buffering && config.memoryBudgetBytes < 4 * config.reconnectMessageBufferMaxBytes) {
        logger.warn(`memoryBudgetBytes (${config.memoryBudgetBytes}) is less than four times reconnectMessageBufferMaxBytes (${config.reconnectMessageBufferMaxBytes}): a few clients that resume with full buffers at once take the whole budget, and some of them are closed again (1013) until the others have their replays`);
    }
    if (config.reconnectMessageBufferRedis) {
        if (config.reconnectMessageBufferFolder) {
            logger.warn('Both reconnectMessageBufferRedis and reconnectMessageBufferFolder are set: the buffer is kept in Redis');
        }
        const store = RedisReconnectBufferStore.create(config.reconnectMessageBufferRedis, loggerFactory('mashroom.websocket.buffer.redis'));
        logger.info(`Reconnect message buffering is on, ${store.description}: clients may resume on any node`);
        use(store);
    } else if (config.reconnectMessageBufferFolder) {
        server.expectBufferStore();
        const opening = openFileStore(resolve(serverConfig.serverRootFolder, config.reconnectMessageBufferFolder), logger, use, () => server.bufferStoreUnavailable());
        stopOpening = opening.cancel;
        await opening.ready;
    } else {
        logger.info('Reconnect message buffering is off');
    }

    return {
        expressApp: createExpressApp(),
        upgradeHandler: createUpgradeHandler(server, config, contextHolder),
    };
};

export default bootstrap;
