/*
 * The opt-in delivery protocol ("mashroom-delivery.v1", negotiated as WebSocket subprotocol) that the
 * client library speaks. Clients that do not ask for it see plain JSON messages, exactly as before.
 *
 * Server to client:  {"type":"setClientId","payload":"<id>","protocol":"mashroom-delivery.v1"} first, with
 *                    "ackAfterChars":<n> when buffering is on (acknowledge at once after n characters)
 *                    {"type":"message","seq":<n>,"payload":<message>}   n counts up from 1 per client id
 *                    "keepalive", as for every client
 * Client to server:  {"type":"message","payload":<message>}             handed to the listeners
 *                    {"type":"ack","seq":<n>}                          everything up to n has arrived
 * Resuming:          ?clientId=<id>&lastSeq=<n>: the replay leaves out what the client already has
 */

export const DELIVERY_PROTOCOL = 'mashroom-delivery.v1';

const ENVELOPE_PREFIX = '{"type":"message","seq":';

/** Wrap an already serialised message; no second JSON.stringify of the payload */
export const envelope = (seq: number, data: string): string => `${ENVELOPE_PREFIX}${seq},"payload":${data}}`;

/** The seq of a frame made by `envelope`, or null for any other frame */
export const seqOfEnvelope = (frame: string): number | null => {
    if (!frame.startsWith(ENVELOPE_PREFIX)) {
        return null;
    }
    const seq = parseInt(frame.slice(ENVELOPE_PREFIX.length, ENVELOPE_PREFIX.length + 16), 10);
    return Number.isSafeInteger(seq) ? seq : null;
};

export type ClientEnvelope =
    | {readonly kind: 'message'; readonly payload: unknown}
    | {readonly kind: 'ack'; readonly seq: number}
    | {readonly kind: 'invalid'; readonly problem: string};

export const parseClientEnvelope = (message: unknown): ClientEnvelope => {
    if (typeof message !== 'object' || message === null || Array.isArray(message)) {
        return {kind: 'invalid', problem: 'not an envelope object'};
    }
    const {type, payload, seq} = message as {type?: unknown; payload?: unknown; seq?: unknown};
    if (type === 'message' && 'payload' in message) {
        return {kind: 'message', payload};
    }
    if (type === 'ack' && typeof seq === 'number' && Number.isSafeInteger(seq) && seq >= 0) {
        return {kind: 'ack', seq};
    }
    return {kind: 'invalid', problem: `unknown envelope ${typeof type === 'string' ? `type ${type.slice(0, 40)}` : 'without type'}`};
};
