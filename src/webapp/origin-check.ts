import type {IncomingHttpHeaders} from 'http';

const DEFAULT_PORTS: Readonly<Record<string, string>> = {'http:': '80', 'https:': '443', 'ws:': '80', 'wss:': '443'};

const firstValue = (header: string | Array<string> | undefined): string | undefined => {
    const value = Array.isArray(header) ? header[0] : header;
    // A proxy chain may list several hosts; the first is the one the browser asked for
    return value?.split(',')[0].trim() || undefined;
};

/** host and port of a Host-style header, the port defaulting to the one of the origin's scheme */
const sameHost = (origin: URL, hostHeader: string | undefined): boolean => {
    if (!hostHeader) {
        return false;
    }
    let host: URL;
    try {
        host = new URL(`${origin.protocol}//${hostHeader}`);
    } catch {
        return false;
    }
    const defaultPort = DEFAULT_PORTS[origin.protocol] ?? '';
    return host.hostname === origin.hostname && (host.port || defaultPort) === (origin.port || defaultPort);
};

/**
 * Cross-site WebSocket hijacking protection: browsers send the session cookie with a WebSocket opened by
 * any page, but they also send the page's Origin, which a page cannot forge. Allowed: requests without an
 * Origin (not from a browser), the server's own origin (Origin host equals Host, or X-Forwarded-Host if the
 * proxy in front is trusted to set it: a client can send one of its own; the scheme may differ behind a
 * TLS-terminating proxy), and the configured origins ('*': any).
 */
export const isOriginAllowed = (headers: IncomingHttpHeaders, allowedOrigins: ReadonlyArray<string>, trustForwardedHost: boolean): boolean => {
    const originHeader = headers.origin;
    if (originHeader === undefined) {
        return true;
    }
    if (allowedOrigins.includes('*')) {
        return true;
    }
    let origin: URL;
    try {
        origin = new URL(originHeader);
    } catch {
        // Includes "null", sent by sandboxed frames and file: pages
        return false;
    }
    if (origin.origin === 'null') {
        return false;
    }
    return allowedOrigins.includes(origin.origin) ||
        sameHost(origin, firstValue(headers.host)) ||
        (trustForwardedHost && sameHost(origin, firstValue(headers['x-forwarded-host'])));
};
