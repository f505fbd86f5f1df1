import {isClientId} from './client-id';

/** Where an upgrade request wants to connect, derived from its URL alone. */
export type ConnectTarget = {
    /** URL path below the base path, without the query string ('' for the base path itself) */
    readonly connectPath: string;
    /** The `clientId` query parameter, if it has the form of one of our ids */
    readonly requestedClientId: string | null;
    /** The raw `clientId` query parameter when present but not one of our ids (for the log) */
    readonly rejectedClientId: string | null;
    /** The `lastSeq` query parameter of the delivery protocol, if it is a whole number */
    readonly lastSeq: number | null;
};

export type ConnectTargetError = {
    readonly status: 400 | 404;
    readonly reason: string;
};

const MAX_URL_LENGTH = 8192;

/**
 * Parse the request URL of an upgrade. Mashroom routes every URL that starts with the base path to us
 * (`^/websocket`), so `/websocketfoo` arrives here too and must be told apart from `/websocket/foo`.
 */
export const parseConnectTarget = (url: string | undefined, basePath: string): ConnectTarget | ConnectTargetError => {
    if (!url || url.length > MAX_URL_LENGTH || !url.startsWith('/')) {
        return {status: 400, reason: 'Malformed request URL'};
    }
    const queryStart = url.indexOf('?');
    const path = queryStart === -1 ? url : url.slice(0, queryStart);
    const query = queryStart === -1 ? '' : url.slice(queryStart + 1);
    if (path !== basePath && !path.startsWith(`${basePath}/`)) {
        return {status: 404, reason: `Not below ${basePath}`};
    }
    if (/[#\s\u0000-\u001f\u007f]/.test(url) || !isWellEncoded(path) || !isWellEncoded(query.replace(/\+/g, ' '))) {
        return {status: 400, reason: 'Malformed request URL'};
    }
    const params = new URLSearchParams(query);
    const clientIdParam = params.get('clientId');
    const requestedClientId = clientIdParam !== null && isClientId(clientIdParam) ? clientIdParam : null;
    const lastSeqParam = params.get('lastSeq');
    const lastSeq = lastSeqParam !== null && /^\d{1,15}$/.test(lastSeqParam) ? Number(lastSeqParam) : null;
    return {
        connectPath: path.slice(basePath.length),
        requestedClientId,
        rejectedClientId: clientIdParam !== null && requestedClientId === null ? clientIdParam : null,
        lastSeq,
    };
};

export const isConnectTargetError = (value: ConnectTarget | ConnectTargetError): value is ConnectTargetError =>
    'status' in value;

const isWellEncoded = (value: string): boolean => {
    try {
        decodeURIComponent(value);
        return true;
    } catch {
        return false;
    }
};
