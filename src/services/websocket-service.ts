import type {
    MashroomWebSocketClient,
    MashroomWebSocketDisconnectListener,
    MashroomWebSocketMatcher,
    MashroomWebSocketMessageListener,
    MashroomWebSocketService,
} from '../../type-definitions';
import type {MashroomWebSocketServer} from '../server/websocket-server';

export class WebSocketServerNotRunningError extends Error {
    constructor() {
        super('The WebSocket server is not running (is the Mashroom WebSocket Webapp loaded?)');
        this.name = 'WebSocketServerNotRunningError';
    }
}

/**
 * The service other plugins get as `pluginContext.services.websocket.service`. It delegates to the server
 * the webapp plugin runs; while none runs (during a reload) queries answer empty, changes fail, and
 * basePath stays what it was (pages keep rendering the connect URL).
 */
export class WebSocketService implements MashroomWebSocketService {

    private lastBasePath: string | null;

    constructor(private readonly server: () => MashroomWebSocketServer | null) {
        this.lastBasePath = server()?.basePath ?? null;
    }

    addMessageListener(matcher: MashroomWebSocketMatcher, listener: MashroomWebSocketMessageListener): void {
        this.running().addMessageListener(matcher, listener);
    }

    removeMessageListener(matcher: MashroomWebSocketMatcher, listener: MashroomWebSocketMessageListener): void {
        this.server()?.removeMessageListener(matcher, listener);
    }

    addDisconnectListener(listener: MashroomWebSocketDisconnectListener): void {
        this.running().addDisconnectListener(listener);
    }

    removeDisconnectListener(listener: MashroomWebSocketDisconnectListener): void {
        this.server()?.removeDisconnectListener(listener);
    }

    // The message is whatever the caller wants serialised; see the note on `any` in type-definitions
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    sendMessage(client: MashroomWebSocketClient, message: any): Promise<void> {
        const server = this.server();
        return server ? server.sendMessage(client, message) : Promise.reject(new WebSocketServerNotRunningError());
    }

    getClientsOnPath(connectPath: string): Array<MashroomWebSocketClient> {
        return this.server()?.getClientsOnPath(connectPath) ?? [];
    }

    getClientsOfUser(username: string): Array<MashroomWebSocketClient> {
        return this.server()?.getClientsOfUser(username) ?? [];
    }

    getClientCount(): number {
        return this.server()?.getClientCount() ?? 0;
    }

    close(client: MashroomWebSocketClient): void {
        this.server()?.close(client);
    }

    get basePath(): string {
        const server = this.server();
        if (server) {
            this.lastBasePath = server.basePath;
        }
        if (this.lastBasePath === null) {
            throw new WebSocketServerNotRunningError();
        }
        return this.lastBasePath;
    }

    private running(): MashroomWebSocketServer {
        const server = this.server();
        if (!server) {
            throw new WebSocketServerNotRunningError();
        }
        return server;
    }
}
