import type {MashroomWebSocketServer} from './websocket-server';

/*
 * The hand-over between the two plugins of this package: the webapp plugin creates the server, the services
 * plugin exposes it. Both bootstraps load this module from the same package instance, so they share it.
 */

let current: MashroomWebSocketServer | null = null;

export const installServer = (server: MashroomWebSocketServer): void => {
    current = server;
};

/** Only uninstalls the given server, so a late unload of an old instance cannot remove its successor */
export const uninstallServer = (server: MashroomWebSocketServer): void => {
    if (current === server) {
        current = null;
    }
};

export const currentServer = (): MashroomWebSocketServer | null => current;
