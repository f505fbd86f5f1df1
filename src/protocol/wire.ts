import type {IncomingMessage} from 'http';
import MashroomWebSocketClient from '../../client';

// The client library is the other end of the wire and is served to browsers as one script, so the constants
// both ends must agree on are defined there and read from it here
export const DELIVERY_PROTOCOL: string = MashroomWebSocketClient.PROTOCOL;
/** The keep-alive message as it goes on the wire: the JSON string "keepalive" */
export const KEEP_ALIVE_FRAME: string = MashroomWebSocketClient.KEEP_ALIVE;
/** After how many characters received the client library acknowledges at the latest */
export const LIBRARY_ACK_AFTER_CHARS: number = MashroomWebSocketClient.ACK_AFTER_CHARS;

/** Whether an upgrade request offers the delivery protocol (the client library) */
export const requestsDeliveryProtocol = (request: IncomingMessage): boolean =>
    String(request.headers['sec-websocket-protocol'] ?? '').split(',').some((protocol) => protocol.trim() === DELIVERY_PROTOCOL);

export const CLOSE_NORMAL = 1000;
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_POLICY_VIOLATION = 1008;
export const CLOSE_INTERNAL_ERROR = 1011;
/** The server restarts: reconnect, the client is kept for a resume */
export const CLOSE_SERVICE_RESTART = 1012;
export const CLOSE_TRY_AGAIN_LATER = 1013;

/**
 * The first message on every connection. To a client of the delivery protocol it also says so (ws accepts the
 * first subprotocol offered, so a server without the protocol may still have accepted it) and, with buffering
 * on, after how many characters it must acknowledge at once.
 */
export const setClientIdFrame = (clientId: string, sequenced: boolean, ackAfterChars: number | null): string =>
    JSON.stringify(sequenced
        ? {type: 'setClientId', payload: clientId, protocol: DELIVERY_PROTOCOL, ...ackAfterChars !== null && {ackAfterChars}}
        : {type: 'setClientId', payload: clientId});
