import type {MashroomLogger} from '@mashroom/mashroom/type-definitions';
import type {
    MashroomWebSocketClient,
    MashroomWebSocketDisconnectListener,
    MashroomWebSocketMatcher,
    MashroomWebSocketMessageListener,
} from '../../type-definitions';

type MessageListenerEntry = {
    readonly matcher: MashroomWebSocketMatcher;
    readonly listener: MashroomWebSocketMessageListener;
};

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
    typeof value === 'object' && value !== null && typeof (value as PromiseLike<unknown>).then === 'function';

const assertFunction = (value: unknown, what: string): void => {
    if (typeof value !== 'function') {
        throw new TypeError(`${what} must be a function (got ${value === null ? 'null' : typeof value})`);
    }
};

/**
 * The message and disconnect listeners of the plugins, and their invocation. A listener that throws or
 * rejects is logged and never stops the others. The lists are replaced, not mutated, on change, so a
 * listener that adds or removes listeners while being called does not disturb the running dispatch.
 */
export class ListenerRegistry {

    /** @param loggerFor the logger for a client's context; only called when there is something to log */
    constructor(private readonly loggerFor: (client: MashroomWebSocketClient) => MashroomLogger) {
    }

    private messageListeners: ReadonlyArray<MessageListenerEntry> = [];
    private disconnectListeners: ReadonlyArray<MashroomWebSocketDisconnectListener> = [];

    addMessageListener(matcher: MashroomWebSocketMatcher, listener: MashroomWebSocketMessageListener): void {
        assertFunction(matcher, 'matcher');
        assertFunction(listener, 'listener');
        this.messageListeners = [...this.messageListeners, {matcher, listener}];
    }

    removeMessageListener(matcher: MashroomWebSocketMatcher, listener: MashroomWebSocketMessageListener): void {
        this.messageListeners = this.messageListeners.filter((entry) => entry.matcher !== matcher || entry.listener !== listener);
    }

    addDisconnectListener(listener: MashroomWebSocketDisconnectListener): void {
        assertFunction(listener, 'listener');
        this.disconnectListeners = [...this.disconnectListeners, listener];
    }

    removeDisconnectListener(listener: MashroomWebSocketDisconnectListener): void {
        this.disconnectListeners = this.disconnectListeners.filter((entry) => entry !== listener);
    }

    /** Hand the message to every listener whose matcher accepts it; false if none did */
    dispatchMessage(message: unknown, client: MashroomWebSocketClient): boolean {
        let handled = false;
        for (const {matcher, listener} of this.messageListeners) {
            let matches = false;
            try {
                matches = matcher(client.connectPath, message);
            } catch (error) {
                this.loggerFor(client).error(`A message matcher threw for a message on ${client.connectPath}; treating it as no match`, error);
            }
            if (matches) {
                handled = true;
                // Called directly, not through a closure: this runs for every message
                try {
                    this.watch(listener(message, client), 'A message listener', client);
                } catch (error) {
                    this.loggerFor(client).error(`A message listener threw (client ${client.clientId})`, error);
                }
            }
        }
        return handled;
    }

    notifyDisconnect(client: MashroomWebSocketClient): void {
        for (const listener of this.disconnectListeners) {
            try {
                this.watch(listener(client), 'A disconnect listener', client);
            } catch (error) {
                this.loggerFor(client).error(`A disconnect listener threw (client ${client.clientId})`, error);
            }
        }
    }

    clear(): void {
        this.messageListeners = [];
        this.disconnectListeners = [];
    }

    /** Log a rejection of what a listener returned */
    private watch(result: unknown, what: string, client: MashroomWebSocketClient): void {
        if (isThenable(result)) {
            result.then(undefined, (error: unknown) => this.loggerFor(client).error(`${what} rejected (client ${client.clientId})`, error));
        }
    }
}
