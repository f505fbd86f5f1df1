import type WebSocket from 'ws';
import type {MashroomLogger} from '@mashroom/mashroom/type-definitions';
import type {ReconnectBufferStore, SealedClient} from '../buffer/reconnect-buffer-store';
import type {ServerClient} from '../client/server-client';
import {CLOSE_GOING_AWAY, CLOSE_SERVICE_RESTART} from '../protocol/wire';
import {beforeDeadline, TOO_LATE, withTimeout} from './deadline';

/** The part of the drain's time kept for the seal at least */
const SEAL_SHARE = 0.25;
/** How long past the deadline the seal may take to finish what it read in time (writing and syncing one file) */
const SEAL_GRACE_MS = 500;

/**
 * Keep every client of a server that stops for a resume on another node or by the next process (the sequence:
 * docs/ARCHITECTURE.md, "Shutdown"): each connection is let go, so its client waits with what it had not
 * acknowledged in its buffer; once every buffer is stored the clients leave this process, the store seals what it
 * holds of them, and only then are the sockets closed, with 1012, so that no client reconnects before it can be
 * resumed. All within `timeoutMs`: a client that is not kept by then is removed from the store (a later resume
 * would miss what was not stored) and its socket closed with 1001. Resolves to the sockets being closed.
 */
export const drain = async (clients: ReadonlyArray<ServerClient>, store: ReconnectBufferStore, timeoutMs: number, logger: MashroomLogger): Promise<Array<WebSocket>> => {
    const started = Date.now();
    const sockets = new Map<ServerClient, WebSocket>();
    for (const client of clients) {
        const connection = client.connection;
        if (connection) {
            sockets.set(client, connection.socket);
        }
    }
    let keptIds: ReadonlySet<string> = new Set();
    try {
        keptIds = await keep(clients, store, started, timeoutMs, logger);
    } catch (error) {
        // A fault of ours: the connections must end all the same, or the process waits for them until it is killed
        logger.error('Draining failed: every client starts afresh when it reconnects', error);
    } finally {
        sockets.forEach((socket, client) => {
            if (keptIds.has(client.clientId)) {
                socket.close(CLOSE_SERVICE_RESTART, 'Server restart');
            } else {
                socket.close(CLOSE_GOING_AWAY, 'Server shutting down');
            }
        });
    }
    return [...sockets.values()];
};

/** Let every client wait, store and seal them; resolves to the ids of those kept */
const keep = async (clients: ReadonlyArray<ServerClient>, store: ReconnectBufferStore, started: number, timeoutMs: number, logger: MashroomLogger): Promise<ReadonlySet<string>> => {
    const deadline = started + timeoutMs;
    // A store that is slow to take the buffers must leave time to seal those it took
    const buffersDeadline = deadline - timeoutMs * SEAL_SHARE;
    for (const client of clients) {
        const connection = client.connection;
        if (connection) {
            client.connectionLost(connection);
        }
    }
    await settledBefore(clients, buffersDeadline);
    // Once they have left, nothing more is appended; what was appended meanwhile must be stored before the seal
    const leaving = clients.map((client) => client.leave());
    const stored = await settledBefore(clients, buffersDeadline);
    const candidates: Array<SealedClient> = [];
    const notKept: Array<string> = [];
    leaving.forEach((waiting, index) => {
        // A client whose buffer is not stored in time cannot be resumed in full: it is not handed on
        if (waiting && stored.has(clients[index])) {
            candidates.push(waiting);
        } else {
            notKept.push(clients[index].clientId);
        }
    });
    const kept = new Set<string>();
    try {
        const sealed = await beforeDeadline(store.seal(candidates, deadline), deadline + SEAL_GRACE_MS);
        if (sealed === TOO_LATE) {
            logger.error(`Sealing the drained clients in ${store.description} did not finish within ${timeoutMs} ms: they start afresh when they reconnect`);
        } else {
            sealed.forEach((clientId) => kept.add(clientId));
            logger.info(`Drained ${kept.size} client(s) into ${store.description} in ${Date.now() - started} ms: they resume on their next connection`);
        }
    } catch (error) {
        logger.error(`Keeping the drained clients in ${store.description} failed: they start afresh when they reconnect`, error);
    }
    notKept.push(...candidates.filter(({clientId}) => !kept.has(clientId)).map(({clientId}) => clientId));
    if (notKept.length > 0) {
        logger.warn(`The buffers of ${notKept.length} client(s) were not stored within ${timeoutMs} ms: they start afresh when they reconnect`);
        // What a shared store holds of them is incomplete: nobody must resume them from it (best effort, the
        // process is about to end)
        await withTimeout(Promise.all(notKept.map((clientId) => store.remove(clientId).catch(() => undefined))), SEAL_GRACE_MS);
    }
    return kept;
};

/** The clients whose buffer operations asked for so far have settled by the deadline (a time in ms) */
export const settledBefore = async (clients: ReadonlyArray<ServerClient>, deadline: number): Promise<Set<ServerClient>> => {
    const settled = new Set<ServerClient>();
    await beforeDeadline(Promise.all(clients.map((client) => client.buffered().then(() => settled.add(client)))), deadline);
    return settled;
};
