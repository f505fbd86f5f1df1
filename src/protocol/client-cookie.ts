import type {IncomingMessage} from 'http';
import {TLSSocket} from 'tls';
import {isClientId} from './client-id';

/**
 * The cookie a handshake response sets, naming the client the connection serves: a client that cannot put
 * `?clientId=` into its reconnect URL (the Portal's fixes it at page load) resumes with it all the same.
 */
export const CLIENT_COOKIE = 'mashroom-websocket-client';

/** At most this many of them are looked at: a header full of them must not make a request look up each */
const MAX_IDS = 4;

/**
 * The client ids the Cookie header names, of our form, in its order (the most specific path first). More than
 * one: a cookie of the same name set by another path or (sub)domain, which must not hide ours
 */
export const clientIdsOfCookie = (header: string | undefined): Array<string> => {
    const ids: Array<string> = [];
    if (!header || !header.includes(CLIENT_COOKIE)) {
        return ids;
    }
    for (const pair of header.split(';')) {
        const separator = pair.indexOf('=');
        if (separator !== -1 && pair.slice(0, separator).trim() === CLIENT_COOKIE) {
            const value = pair.slice(separator + 1).trim();
            if (isClientId(value) && !ids.includes(value)) {
                ids.push(value);
                if (ids.length === MAX_IDS) {
                    break;
                }
            }
        }
    }
    return ids;
};

/**
 * The Set-Cookie value naming the client: sent back only on this connect path, never readable by scripts, not
 * sent along by other sites' pages, over TLS only when the request came over TLS (here, or at a proxy in front
 * whose X-Forwarded-Proto is trusted).
 * None for a path that could end the attribute early (the path is the requester's, not to be echoed into a header).
 */
export const clientCookie = (clientId: string, path: string, request: IncomingMessage, trustForwardedProto: boolean): string | null => {
    if (!/^\/[\x21-\x3a\x3c-\x7e]*$/.test(path)) {
        return null;
    }
    const secure = request.socket instanceof TLSSocket ||
        (trustForwardedProto && String(request.headers['x-forwarded-proto'] ?? '').split(',')[0].trim() === 'https');
    return `${CLIENT_COOKIE}=${clientId}; Path=${path}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
};
