// The message envelopes of the delivery protocol (docs/ARCHITECTURE.md, "Wire protocol")

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
