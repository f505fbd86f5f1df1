import type WebSocket from 'ws';

export type ParsedFrame =
    | {readonly ok: true; readonly message: unknown}
    | {readonly ok: false; readonly problem: string};

const PREVIEW_LENGTH = 120;

/** A short, single-line excerpt of untrusted text for a log line */
export const preview = (text: string): string => {
    const oneLine = text.replace(/[\u0000-\u001f\u007f]/g, ' ');
    return oneLine.length > PREVIEW_LENGTH ? `${oneLine.slice(0, PREVIEW_LENGTH)}… (${text.length} characters)` : oneLine;
};

const toText = (data: WebSocket.RawData): string => {
    if (Buffer.isBuffer(data)) {
        return data.toString('utf8');
    }
    if (Array.isArray(data)) {
        return Buffer.concat(data).toString('utf8');
    }
    return Buffer.from(data).toString('utf8');
};

/** Clients speak JSON in text frames; anything else is reported, not thrown. */
export const parseIncomingFrame = (data: WebSocket.RawData, isBinary: boolean): ParsedFrame => {
    if (isBinary) {
        return {ok: false, problem: 'binary frames are not supported, only JSON text frames'};
    }
    const text = toText(data);
    try {
        return {ok: true, message: JSON.parse(text)};
    } catch (error) {
        return {ok: false, problem: `not valid JSON (${(error as Error).message}): ${preview(text)}`};
    }
};
