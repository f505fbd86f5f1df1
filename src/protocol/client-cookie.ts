import type {IncomingMessage} from 'http';
import {isClientId} from './client-id';

/**
 * The cookie a handshake response sets, naming the client the connection serves: a client that cannot put
 * `?clientId=` into its reconnect URL (the Portal's fixes it at page load) resumes with it all the same.
 */
export const CLIENT_COOKIE = 'mashroom-websocket-client';

/** The client id the Cookie header names, if it is of our form (the first such, as the most specific path comes first) */
export const clientIdOfCookie = (header: string | undefined): string | null => {
    if (!header || !header.includes(CLIENT_COOKIE)) {
        return null;
    }
    for (const pair of header.split(';')) {
        const separator = pair.indexOf('=');
        if (separator !== -1 && pair.slice(0, separator).trim() === CLIENT_COOKIE) {
            const value = pair.slice(separator + 1).trim();
            if (isClientId(value)) {
                return value;
            }
        }
    }
    return null;
};

/**
 * The Set-Cookie value naming the client: sent back only on this connect path, never readable by scripts, not
 * sent along by other sites' pages, over TLS only when the request came over TLS (here or at a proxy in front).
 * None for a path that could end the attribute early (the path is the requester's, not to be echoed into a header).
 */
export const clientCookie = (clientId: string, path: string, request: IncomingMessage): string | null => {
    if (!/^\/[\x21-\x3a\x3c-\x7e]*$/.test(path)) {
        return null;
    }
    const secure = (request.socket as {encrypted?: boolean}).encrypted === true ||
        String(request.headers['x-forwarded-proto'] ?? '').split(',')[0].trim() === 'https';
    return `${CLIENT_COOKIE}=${clientId}; Path=${path}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
};
