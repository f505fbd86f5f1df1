import type {MashroomSecurityUser} from '@mashroom/mashroom-security/type-definitions';

/*
 * Public types of @mashroom/mashroom-websocket.
 *
 * Messages are typed `any` on purpose: they are whatever JSON the peer sent or the caller wants to send,
 * and existing plugins written against the original package read their fields without narrowing. A
 * narrower type here would break their compilation, which a drop-in replacement must not do.
 */

/**
 * Decides whether a message listener receives a message.
 * `connectPath` is the URL path below the base path where the client connected, without the query string:
 * a client that connected to `/websocket/chat?x=1` has the connect path `/chat`.
 */
export type MashroomWebSocketMatcher = (connectPath: string, message: any) => boolean;

/**
 * Receives a parsed (JSON) message of a client. It may be async: a rejection is logged.
 * (Typed `=> void` so that a function returning anything, a promise included, can be passed.)
 */
export type MashroomWebSocketMessageListener = (message: any, client: MashroomWebSocketClient) => void;

/**
 * Called once when a client is gone for good: closed, or not resumed within the reconnect timeout.
 * It may be async: a rejection is logged.
 */
export type MashroomWebSocketDisconnectListener = (client: MashroomWebSocketClient) => void;

export type MashroomWebSocketClient = {
    /** The URL path below the base path, without the query string (e.g. `/chat`) */
    readonly connectPath: string;
    /** The authenticated user that opened the connection */
    readonly user: MashroomSecurityUser;
    /** Logger context of the connection (request context plus username and clientId), for `logger.withContext()` */
    readonly loggerContext: Readonly<Record<string, unknown>>;
    /** A random UUID; a client resuming with `?clientId=` keeps it */
    readonly clientId: string;
    /** False while the client owes an answer to a ping or is disconnected and waiting for a reconnect */
    alive: boolean;
};

/**
 * A service to talk to the WebSocket clients connected below `basePath`.
 */
export interface MashroomWebSocketService {
    /**
     * Register a listener for client messages. It receives every message for which `matcher` returns true.
     */
    addMessageListener(matcher: MashroomWebSocketMatcher, listener: MashroomWebSocketMessageListener): void;

    /**
     * Remove a message listener; pass the same matcher and listener that were added.
     */
    removeMessageListener(matcher: MashroomWebSocketMatcher, listener: MashroomWebSocketMessageListener): void;

    /**
     * Register a listener that is called once per client when it is gone for good.
     */
    addDisconnectListener(listener: MashroomWebSocketDisconnectListener): void;

    /**
     * Remove a disconnect listener.
     */
    removeDisconnectListener(listener: MashroomWebSocketDisconnectListener): void;

    /**
     * Send `JSON.stringify(message)` to the client. Resolves once written to the socket, or once stored in the
     * reconnect buffer while the client is disconnected and may still resume. Rejects if the message cannot
     * be serialised, the write fails, or the client is gone.
     */
    sendMessage(client: MashroomWebSocketClient, message: any): Promise<void>;

    /**
     * All clients (connected or waiting for a reconnect) on the given connect path.
     */
    getClientsOnPath(connectPath: string): Array<MashroomWebSocketClient>;

    /**
     * All clients (connected or waiting for a reconnect) of the given user.
     */
    getClientsOfUser(username: string): Array<MashroomWebSocketClient>;

    /**
     * The number of clients, including those waiting for a reconnect.
     */
    getClientCount(): number;

    /**
     * Close the connection (code 1000) and remove the client at once; the disconnect listeners are called once.
     */
    close(client: MashroomWebSocketClient): void;

    /**
     * The path below which clients connect (e.g. `/websocket`).
     */
    readonly basePath: string;
}
