import type {Duplex} from 'stream';
import type {
    IncomingMessageWithContext,
    MashroomHttpUpgradeHandler,
    MashroomPluginContextHolder,
} from '@mashroom/mashroom/type-definitions';
import type {WebAppConfig} from '../config/webapp-config';
import {clientIdsOfCookie} from '../protocol/client-cookie';
import {isConnectTargetError, parseConnectTarget} from '../protocol/connect-target';
import {preview} from '../protocol/incoming-frame';
import {requestsDeliveryProtocol} from '../protocol/wire';
import {TOO_LATE, withTimeout} from '../server/deadline';
import type {UpgradeOutcome} from '../server/server-options';
import type {MashroomWebSocketServer} from '../server/websocket-server';
import {authenticate} from './authenticate';
import {refuseUpgrade} from './http-refusal';
import {isOriginAllowed} from './origin-check';
import {RefusalLog} from './refusal-log';

const hasRequiredRole = (roles: ReadonlyArray<string> | null | undefined, required: ReadonlyArray<string> | null): boolean =>
    !required || required.some((role) => roles?.includes(role));

/**
 * The HTTP upgrade handler Mashroom calls for every upgrade request below the webapp's path. In order:
 * URL (400/404), Origin (403), capacity (503), authentication (403, 503 on timeout), roles (403), capacity
 * again, also per user (503); only then the WebSocket handshake.
 */
export const createUpgradeHandler = (
    server: MashroomWebSocketServer,
    config: WebAppConfig,
    contextHolder: MashroomPluginContextHolder,
): MashroomHttpUpgradeHandler => {
    const refusals = new RefusalLog();

    const handle = async (request: IncomingMessageWithContext, socket: Duplex, head: Buffer): Promise<void> => {
        if (!request.pluginContext) {
            // Mashroom always provides it; a hand-wired server may not
            request.pluginContext = contextHolder.getPluginContext();
        }
        const logger = request.pluginContext.loggerFactory('mashroom.websocket.upgrade');

        const target = parseConnectTarget(request.url, config.path);
        if (isConnectTargetError(target)) {
            refusals.log(logger, 'warn', `url-${target.status}`, `Refusing WebSocket upgrade of ${preview(request.url ?? '')}: ${target.reason}`);
            refuseUpgrade(socket, target.status, target.reason);
            return;
        }
        if (!isOriginAllowed(request.headers, config.allowedOrigins, config.trustForwardedHeaders)) {
            refusals.log(logger, 'warn', 'origin', `Refusing WebSocket upgrade of ${preview(request.url ?? '')} from origin ${preview(String(request.headers.origin))}: not the server's own origin nor one of allowedOrigins`);
            refuseUpgrade(socket, 403, 'Origin not allowed');
            return;
        }
        if (target.rejectedClientId !== null) {
            refusals.log(logger, 'warn', 'client-id', `Ignoring clientId '${preview(target.rejectedClientId)}': not an id this server issues`);
        }
        // ?clientId= wins; the cookie stands in for it where a client cannot add it to its URL (see client-cookie), and
        // only for such clients: the client library names its client in the URL
        const sequenced = requestsDeliveryProtocol(request);
        const cookieClientIds = target.requestedClientId === null && config.clientIdCookie && !sequenced
            ? clientIdsOfCookie(request.headers.cookie) : [];
        if (server.bufferStorePending && (target.requestedClientId !== null || cookieClientIds.length > 0)) {
            refusals.log(logger, 'warn', 'pending', `Refusing WebSocket upgrade of ${preview(request.url ?? '')}: it wants to resume a client, and the reconnect buffer is not ready yet (its folder is still used by the instance before); the client may try again`);
            refuseUpgrade(socket, 503, 'Reconnect buffer not ready');
            return;
        }
        if (!server.mayAdmit(target.requestedClientId ?? cookieClientIds[0] ?? null)) {
            refusals.log(logger, 'warn', 'capacity', `Refusing WebSocket upgrade of ${preview(request.url ?? '')}: ${REFUSALS[server.stopped ? 'stopped' : 'full'](config)}`);
            refuseUpgrade(socket, 503);
            return;
        }

        const user = await withTimeout(authenticate(request, logger), config.upgradeTimeoutSec * 1000);
        if (socket.destroyed) {
            logger.info('The client went away during authentication');
            return;
        }
        if (user === TOO_LATE) {
            refusals.log(logger, 'error', 'timeout', `Refusing WebSocket upgrade of ${preview(request.url ?? '')}: the authentication took longer than upgradeTimeoutSec (${config.upgradeTimeoutSec}s)`);
            refuseUpgrade(socket, 503, 'Authentication timed out');
            return;
        }
        if (!user) {
            refusals.log(logger, 'warn', 'anonymous', `Refusing WebSocket upgrade of ${preview(request.url ?? '')}: not authenticated`);
            refuseUpgrade(socket, 403, 'Authentication required');
            return;
        }
        if (!hasRequiredRole(user.roles, config.restrictToRoles)) {
            refusals.log(logger, 'warn', 'role', `Refusing WebSocket upgrade of user ${user.username}: none of the roles ${config.restrictToRoles?.join(', ')} (connect path ${target.connectPath || '/'})`);
            refuseUpgrade(socket, 403, 'Missing required role');
            return;
        }

        let requestedClientId = target.requestedClientId;
        for (const cookieClientId of cookieClientIds) {
            const mayResume = await withTimeout(server.mayResumeByCookie(cookieClientId, user.username, target.connectPath), config.upgradeTimeoutSec * 1000);
            if (socket.destroyed) {
                logger.info('The client went away while the client its cookie names was looked up');
                return;
            }
            if (mayResume === true) {
                requestedClientId = cookieClientId;
                break;
            }
        }

        socket.removeListener('error', onEarlySocketError);
        const outcome = server.upgrade(request, socket, head, {
            connectPath: target.connectPath,
            user,
            requestedClientId,
            clientIdFromQuery: target.requestedClientId !== null,
            sequenced,
            requestLoggerContext: logger.getContext() ?? {},
            lastSeq: target.lastSeq,
        });
        if (outcome !== 'upgraded') {
            socket.on('error', onEarlySocketError);
            const client = requestedClientId === null ? '' : `, client ${requestedClientId}`;
            refusals.log(logger, 'warn', outcome, `Refusing WebSocket upgrade of user ${user.username}: ${REFUSALS[outcome](config)} (connect path ${target.connectPath || '/'}${client})`);
            refuseUpgrade(socket, 503);
        }
    };

    return (request, socket, head) => {
        // Until ws takes the socket over, nobody else listens for its errors: a reset must not crash the process
        socket.on('error', onEarlySocketError);
        handle(request, socket, head).catch((error: unknown) => {
            const logger = (request.pluginContext ?? contextHolder.getPluginContext()).loggerFactory('mashroom.websocket.upgrade');
            logger.error('Handling a WebSocket upgrade failed', error);
            refuseUpgrade(socket, 500);
        });
    };
};

const REFUSALS: Record<Exclude<UpgradeOutcome, 'upgraded'>, (config: WebAppConfig) => string> = {
    'full': (config) => `maxConnections (${config.maxConnections}) reached`,
    'user-full': (config) => `maxConnectionsPerUser (${config.maxConnectionsPerUser}) reached`,
    'stopped': () => 'the server is shutting down',
};

function onEarlySocketError(this: Duplex): void {
    this.destroy();
}
