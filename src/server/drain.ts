import type WebSocket from 'ws';
import type {MashroomLogger} from '@mashroom/mashroom/type-definitions';
import type {ReconnectBufferStore, SealedClient} from '../buffer/reconnect-buffer-store';
import type {ServerClient} from '../client/server-client';
import {CLOSE_SERVICE_RESTART} from '../protocol/wire';

/**
 * Keep every client of a server that stops for a resume on another node or by the next process (the sequence:
 * docs/ARCHITECTURE.md, "Shutdown"): each connection is let go, so its client waits with what it had not
 * acknowledged in its buffer; once every buffer is stored (or `timeoutMs` has passed) the clients leave this
 * process, the store seals what it holds of them, and only then are the sockets closed, with 1012, so that no
 * client reconnects before it can be resumed. Resolves to the sockets being closed.
 */
/** The part of the drain's time kept for the seal at least */
const SEAL_SHARE = 0.25;

export const drain = async (clients: ReadonlyArray<ServerClient>, store: ReconnectBufferStore, timeoutMs: number, logger: MashroomLogger): Promise<Array<WebSocket>> => {
    const started = Date.now();
    const deadline = started + timeoutMs;
    // A store that is slow to take the buffers must leave time to seal those it took
    const buffersDeadline = deadline - timeoutMs * SEAL_SHARE;
    const sockets: Array<WebSocket> = [];
    for (const client of clients) {
        const connection = client.connection;
        if (connection) {
            sockets.push(connection.socket);
            client.connectionLost(connection);
        }
    }
    await settledBefore(clients, buffersDeadline);
    // Once they have left, nothing more is appended; what was appended meanwhile must be stored before the seal
    const leaving = clients.map((client) => client.leave());
    const stored = await settledBefore(clients, buffersDeadline);
    const sealed: Array<SealedClient> = [];
    let late = 0;
    leaving.forEach((waiting, index) => {
        // A client whose buffer is not stored in time cannot be resumed in full: it is not handed on
        if (waiting && stored.has(clients[index])) {
            sealed.push(waiting);
        } else if (waiting) {
            late++;
        }
    });
    try {
        const kept = await store.seal(sealed, deadline);
        late += sealed.length - kept;
        logger.info(`Drained ${kept} client(s) into ${store.description} in ${Date.now() - started} ms: they resume on their next connection`);
    } catch (error) {
        logger.error(`Keeping the drained clients in ${store.description} failed: they start afresh when they reconnect`, error);
    }
    if (late > 0) {
        logger.warn(`The buffers of ${late} client(s) were not stored within ${timeoutMs} ms: they start afresh when they reconnect`);
    }
    for (const socket of sockets) {
        socket.close(CLOSE_SERVICE_RESTART, 'Server restart');
    }
    return sockets;
};

/** The clients whose buffer operations asked for so far have settled by the deadline (a time in ms) */
export const settledBefore = async (clients: ReadonlyArray<ServerClient>, deadline: number): Promise<Set<ServerClient>> => {
    const settled = new Set<ServerClient>();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
        Promise.all(clients.map((client) => client.buffered().then(() => settled.add(client)))),
        new Promise((resolve) => {
            timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
        }),
    ]);
    clearTimeout(timer);
    return settled;
};
