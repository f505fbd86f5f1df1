import WebSocket from 'ws';
import MashroomWebSocketClient from '../../client';

/** A client of the stream plugin (test/fixtures/stream-plugin), which sends numbered messages on request */
export type Streamed = {
    readonly id: () => string | null;
    /** The numbers received, in order, duplicates included */
    readonly numbers: Array<number>;
    /** Ask the server to stream `count` messages from `from` */
    stream(from: number, count: number): void;
};

/** The numbers a process logged as accepted for each client when it let it go ("STREAM <clientId> <n>") */
export const acceptedIn = (output: string): Map<string, number> =>
    new Map(Array.from(output.matchAll(/STREAM ([0-9a-f-]{36}) (\d+)/g), (match) => [match[1], Number(match[2])]));

/**
 * A client of the library on the stream plugin's path at `url`: it reconnects by itself, and records what happens
 * to it as `events` ('open', 'resumed', 'reset', 'close <code>'). The caller closes `library`.
 */
export const streamedLibraryClient = (url: string, cookie: string): Streamed & {events: Array<string>; library: MashroomWebSocketClient} => {
    const library = new MashroomWebSocketClient(url, {
        WebSocket,
        webSocketOptions: {headers: {cookie}},
        storage: null,
        reconnect: {initialDelayMs: 100, maxDelayMs: 500},
    });
    const numbers: Array<number> = [];
    const events: Array<string> = [];
    library.on('message', (payload: {n?: number}) => {
        if (typeof payload.n === 'number') {
            numbers.push(payload.n);
        }
    });
    library.on('open', ({resumed}) => events.push(resumed ? 'resumed' : 'open'));
    library.on('reset', () => events.push('reset'));
    library.on('close', ({code}) => events.push(`close ${code}`));
    library.connect();
    return {library, id: () => library.clientId, numbers, events, stream: (from, count) => library.send({from, count, intervalMs: 5})};
};
